package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// ErrPeerUnavailable: the issuing region's node could not answer an
// introspection (not reachable, refused the call, answered malformed).
// The introspection then fails as temporarily unavailable.
var ErrPeerUnavailable = errors.New("federation: the token's issuing region cannot answer")

// Introspector is auth.PeerIntrospector over the trust registry: it asks
// an active region's node at its registered "api" endpoint, or at the
// operator's URL for the region (Directory, which refuses endpoints this
// node may not call: CheckEndpoint; Directory.Peers), with a
// node assertion of this region (Credentials: redeem.NodeAssertions, so
// audience the region, single-use, body-bound), following no redirect.
// Safe for concurrent use.
type Introspector struct {
	Directory   redeem.PeerDirectory
	Credentials redeem.PeerCredentials
	// Client is the HTTP client; nil means PeerClient's in production
	// mode with a 5 s timeout.
	Client *http.Client
	// Answers checks the peer's signature of its answer
	// (redeem.PeerAnswerHeader; the node's NodeAssertions): an unsigned,
	// mis-signed or mismatched answer is refused. Required.
	Answers redeem.PeerAnswerVerifier
	// OnRefuse, if set, is told of every introspection that could not be
	// had (metrics; see Reason). It must not block.
	OnRefuse func(error)
}

var _ auth.PeerIntrospector = (*Introspector)(nil)

// maxIntrospectAnswer bounds a peer's answer.
const maxIntrospectAnswer = 16 << 10

var defaultIntrospectClient = sync.OnceValues(func() (*http.Client, error) {
	return PeerClient(PeerClientOptions{Timeout: 5 * time.Second})
})

// IntrospectAt implements auth.PeerIntrospector. Errors match
// ErrPeerUnavailable, and the registry's refusal (ErrRegionSuspended, ...)
// when the region may not be asked.
func (in *Introspector) IntrospectAt(ctx context.Context, region, token string) (auth.Introspection, error) {
	ans, err := in.introspectAt(ctx, region, token)
	if err != nil {
		err = fmt.Errorf("%w: %s: %w", ErrPeerUnavailable, region, err)
		if in.OnRefuse != nil {
			in.OnRefuse(err)
		}
	}
	return ans, err
}

func (in *Introspector) introspectAt(ctx context.Context, region, token string) (auth.Introspection, error) {
	if in.Answers == nil {
		return auth.Introspection{}, errors.New("federation: Introspector without an answer verifier")
	}
	base, err := in.Directory.PeerURL(region)
	if err != nil {
		return auth.Introspection{}, err
	}
	body, err := json.Marshal(auth.PeerIntrospectRequest{Token: token})
	if err != nil {
		return auth.Introspection{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+auth.PeerIntrospectionPath, bytes.NewReader(body))
	if err != nil {
		return auth.Introspection{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := in.Credentials.Authorize(ctx, req, region); err != nil {
		return auth.Introspection{}, fmt.Errorf("node assertion: %w", err)
	}
	c := in.Client
	if c == nil {
		if c, err = defaultIntrospectClient(); err != nil {
			return auth.Introspection{}, err
		}
	}
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cc.Do(req)
	if err != nil {
		return auth.Introspection{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectAnswer+1))
	if err != nil || len(data) > maxIntrospectAnswer {
		return auth.Introspection{}, errors.New("unreadable answer")
	}
	if resp.StatusCode != http.StatusOK {
		m, _ := strictjson.Object(data, maxIntrospectAnswer)
		code, _ := m["error"].(string)
		if len(code) > 64 {
			code = code[:64]
		}
		return auth.Introspection{}, fmt.Errorf("answered %d %q", resp.StatusCode, code)
	}
	if err := in.Answers.VerifyAnswer(ctx, req, region, resp.StatusCode, data, resp.Header.Get(redeem.PeerAnswerHeader)); err != nil {
		return auth.Introspection{}, err
	}
	var ans auth.Introspection
	if err := strictjson.Decode(data, &ans, maxIntrospectAnswer); err != nil {
		return auth.Introspection{}, fmt.Errorf("malformed answer: %w", err)
	}
	return ans, nil
}
