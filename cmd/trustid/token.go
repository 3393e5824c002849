package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Get an access token from a node (client credentials) and print the token response",
		Long: `Get an access token for a registered client with the client credentials grant.

With --key, the client authenticates with private_key_jwt: a one-minute
assertion signed with the key (SM2 or P-256 PKCS#8 PEM), its kid the key's
JWK thumbprint unless --kid says otherwise, its audience the token endpoint
named by the node's metadata. Without --key, the client_secret is read from
TRUSTID_CLIENT_SECRET (client_secret_basic); avoid --client-secret, which
other users can see in the process list.

The token response JSON is printed on stdout; an error response is printed
too, and the command exits 1.`,
		Args: oneFile(cobra.NoArgs, "key"),
		RunE: runToken,
	}
	f := cmd.Flags()
	f.String("node", "http://127.0.0.1:8080", "base URL of the node")
	f.String("client-id", "", "client_id (required)")
	f.String("key", "", "private key PEM file (private_key_jwt)")
	f.String("kid", "", "kid of the key (default: its JWK thumbprint)")
	f.String("client-secret", "", "client secret for client_secret_basic (prefer TRUSTID_CLIENT_SECRET)")
	f.String("scope", "", "space-separated scopes to ask for (default: all the client may have)")
	f.StringArray("resource", nil, "what the token is for (RFC 8707), repeat for several: an API a relying party registered (the token names it alone), or another region's node (default: this node)")
	f.Duration("timeout", 10*time.Second, "HTTP timeout")
	return cmd
}

func runToken(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	node, _ := f.GetString("node")
	clientID, _ := f.GetString("client-id")
	keyFile, _ := f.GetString("key")
	kid, _ := f.GetString("kid")
	secret, _ := f.GetString("client-secret")
	scope, _ := f.GetString("scope")
	resources, _ := f.GetStringArray("resource")
	timeout, _ := f.GetDuration("timeout")
	node = strings.TrimSuffix(node, "/")
	if clientID == "" {
		return errors.New("--client-id is required")
	}
	if (keyFile == "") == (secret == "") {
		return errors.New("give --key (private_key_jwt) or set TRUSTID_CLIENT_SECRET (client_secret_basic)")
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	client := &http.Client{}

	form := url.Values{"grant_type": {auth.GrantClientCredentials}}
	if scope != "" {
		form.Set("scope", scope)
	}
	form["resource"] = resources
	if keyFile != "" {
		pemBytes, err := os.ReadFile(keyFile)
		if err != nil {
			return err
		}
		signer, err := gm.ParsePrivateKeyPEM(pemBytes)
		if err != nil {
			return fmt.Errorf("%s: %w", keyFile, err)
		}
		if kid == "" {
			if kid, err = auth.KeyID(signer.Public()); err != nil {
				return err
			}
		}
		meta, err := fetchMetadata(ctx, client, node)
		if err != nil {
			return err
		}
		assertion, err := auth.NewClientAssertion(signer, kid, clientID, meta.TokenEndpoint, time.Now(), time.Minute, rand.Reader)
		if err != nil {
			return err
		}
		form.Set("client_assertion_type", auth.AssertionType)
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, node+auth.TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if keyFile == "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if !json.Valid(body) {
		return fmt.Errorf("token endpoint answered %s with a body that is not JSON", resp.Status)
	}
	printNodeAnswer(cmd, body)
	if resp.StatusCode != http.StatusOK {
		e := newNodeError(resp.StatusCode, body)
		e.status = "token endpoint: " + resp.Status
		return e
	}
	return nil
}

// fetchMetadata reads the node's authorization server metadata.
func fetchMetadata(ctx context.Context, client *http.Client, node string) (auth.Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, node+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return auth.Metadata{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return auth.Metadata{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return auth.Metadata{}, fmt.Errorf("node metadata: %s", resp.Status)
	}
	var meta auth.Metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&meta); err != nil {
		return auth.Metadata{}, fmt.Errorf("node metadata: %w", err)
	}
	if meta.TokenEndpoint == "" {
		return auth.Metadata{}, errors.New("node metadata has no token_endpoint")
	}
	return meta, nil
}
