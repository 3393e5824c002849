package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	walletsdk "github.com/trustid-cn/trustid/sdk/wallet"
	"github.com/trustid-cn/trustid/webui"
)

// addUIFlags adds the web pages' settings to `trustid serve`.
func addUIFlags(f *pflag.FlagSet) {
	f.Bool("demo", false, "serve the holder wallet demo (/ui/wallet): it enrolls made-up identities with device keys the node holds. "+
		"For demonstrations and tests only, never on a production node: anyone who reaches the node can then mint test identities")
	addRateFlag(f, "demo-rate-addr", "30/1m", "rate limit of the wallet demo's routes per source address: N/WINDOW, or 0 for none")
}

// mountUI returns the mount function of the web pages under /ui/. With
// --demo it also serves the wallet demo, which needs enrollment (mounted
// before it).
func mountUI(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(s *api.Server, n *node) error {
		f := cmd.Flags()
		demo, _ := f.GetBool("demo")
		cfg := api.UIConfig{Files: webui.Files(), Region: n.region, Issuer: n.issuer}
		if demo {
			if n.demoEnroll == nil {
				return errors.New("--demo: enrollment is not mounted")
			}
			spec, _ := f.GetString("demo-rate-addr")
			limit, err := api.ParseRateLimit("ui-demo-addr", spec)
			if err != nil {
				return fmt.Errorf("--demo-rate-addr: %w", err)
			}
			demo, err := newDemoWallets(n.issuer, n.demoEnroll)
			if err != nil {
				return err
			}
			cfg.Demo = demo
			cfg.Limiter, cfg.DemoLimit = n.store, limit
			n.log.Warn("--demo is on: /ui/demo/ enrolls made-up identities for anyone who reaches this node; never run it in production",
				slog.String("rate_addr", limit.String()))
		}
		return s.MountUI(cfg)
	}
}

// Limits of the wallet demo: how many wallets the node keeps, and for how
// long.
const (
	maxDemoWallets = 500
	demoWalletTTL  = time.Hour
	// demoClient is the client ID the demo enrolls as (it owns the status
	// of what the demo's enrollments issue).
	demoClient = "ui-demo"
	// demoAddressCode is the address code of the made-up identities
	// (310104, Xuhui district, Shanghai).
	demoAddressCode = "310104"
)

// demoWallets is the wallet demo's api.DemoWallets: wallets of the wallet
// SDK (sdk/wallet), their device keys in memory (wallet.SoftwareKeys),
// enrolled through the node's own enrollment use case in process. They
// live in this process's memory only: a restart, or another instance
// behind a load balancer, does not know them.
type demoWallets struct {
	node   string
	enroll *enrollment.Service
	now    func() time.Time

	mu      sync.Mutex
	wallets map[string]*demoWallet
}

type demoWallet struct {
	holder      *walletsdk.Holder
	consent     []string
	disclosable []string
	expires     time.Time
}

var _ api.DemoWallets = (*demoWallets)(nil)

// newDemoWallets returns the demo wallets of the node at node, its
// issuer: the wallet SDK's node URL, so https or http to a loopback
// host (walletsdk.ErrInsecureURL), which is checked here, at the start,
// rather than at each enrollment.
func newDemoWallets(node string, enroll *enrollment.Service) (*demoWallets, error) {
	if _, err := walletsdk.NewHolder(node, walletsdk.NewSoftwareKeys(), "device"); err != nil {
		return nil, fmt.Errorf("--demo: the demo's wallets call this node at its issuer URL, which the wallet SDK refuses (set --issuer to its https URL, or listen on loopback): %w", err)
	}
	return &demoWallets{node: node, enroll: enroll, now: time.Now, wallets: map[string]*demoWallet{}}, nil
}

// demoNames are the made-up holders' given names ("演示" + one of them).
var demoNames = []string{"甲", "乙", "丙", "丁", "戊", "己", "庚", "辛", "壬", "癸"}

// randomDemoIdentity makes a resident ID number of the demo's address
// code with a random birth date (1945–2004) and sequence number, and a
// name. The number is valid in form and may be that of a real person,
// which is why the demo enrolls with a symbol key of its own (mountEnroll):
// its subjects and pairwise IDs match no real holder's.
func randomDemoIdentity() (number, name string, err error) {
	rnd := func(n int64) int64 {
		v, e := rand.Int(rand.Reader, big.NewInt(n))
		if e != nil {
			err = e
			return 0
		}
		return v.Int64()
	}
	from := time.Date(1945, 1, 1, 0, 0, 0, 0, time.UTC)
	birth := from.AddDate(0, 0, int(rnd(60*365)))
	body := fmt.Sprintf("%s%s%03d", demoAddressCode, birth.Format("20060102"), rnd(1000))
	number = body + string(identity.Mod112(body))
	name = "演示" + demoNames[rnd(int64(len(demoNames)))]
	return number, name, err
}

func (d *demoWallets) Enroll(ctx context.Context) (*api.DemoWallet, error) {
	number, name, err := randomDemoIdentity()
	if err != nil {
		return nil, err
	}
	keys := walletsdk.NewSoftwareKeys()
	h, err := walletsdk.NewHolder(d.node, keys, "device")
	if err != nil {
		return nil, err
	}
	if _, err := h.CreateDeviceKey(); err != nil {
		return nil, err
	}
	// A PIN makes the enrollment L3 (device key and PIN); nobody is shown
	// it, as the demo has no PIN check. Drawn again until enrollment
	// would take it (about one in 900 is trivial: 111111, 123123, the
	// birth date…).
	doc, err := identity.Parse(number)
	if err != nil {
		return nil, err
	}
	pin := demoPIN(doc, func() int64 { return mustRandInt(1_000_000) })
	body, err := h.EnrollmentRequest(number, name, pin, "")
	if err != nil {
		return nil, err
	}
	var req enrollment.Request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	resp, _, err := d.enroll.Enroll(ctx, demoClient, &req)
	if err != nil {
		return nil, fmt.Errorf("demo enrollment: %w", err)
	}
	answer, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	if err := h.AcceptEnrollment(answer); err != nil {
		return nil, err
	}
	b, err := qrcode.ParseBinding(h.Binding())
	if err != nil {
		return nil, err
	}
	sd, err := sdjwt.Split(h.IdentityCredential())
	if err != nil {
		return nil, err
	}
	w := &demoWallet{holder: h, expires: d.now().Add(demoWalletTTL)}
	for c := range b.Claims {
		w.consent = append(w.consent, c)
	}
	slices.Sort(w.consent)
	for _, disc := range sd.Disclosures {
		if disc.Name != "" && !slices.Contains(w.disclosable, disc.Name) {
			w.disclosable = append(w.disclosable, disc.Name)
		}
	}
	id := rand.Text()
	d.keep(id, w)
	return &api.DemoWallet{
		ID: id, Name: identity.MaskName(name), Document: identity.MaskNumber(number),
		AssuranceLevel: resp.AssuranceLevel, Region: fmt.Sprintf("%06d", b.Region),
		Consent: nonNil(w.consent), Disclosable: nonNil(w.disclosable), ExpiresAt: w.expires.UTC().Truncate(time.Second),
		ExpiresIn: int64(demoWalletTTL / time.Second),
	}, nil
}

// demoPIN draws six digits (draw gives 0..999999) until they make a PIN
// enrollment takes for doc.
func demoPIN(doc identity.Document, draw func() int64) string {
	for {
		if pin := fmt.Sprintf("%06d", draw()); identity.ValidatePIN(pin, doc) == nil {
			return pin
		}
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func mustRandInt(n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic(err)
	}
	return v.Int64()
}

// keep stores a wallet, dropping expired ones and, when full, the one
// that expires first.
func (d *demoWallets) keep(id string, w *demoWallet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for k, v := range d.wallets {
		if now.After(v.expires) {
			delete(d.wallets, k)
		}
	}
	for len(d.wallets) >= maxDemoWallets {
		oldest := ""
		for k, v := range d.wallets {
			if oldest == "" || v.expires.Before(d.wallets[oldest].expires) {
				oldest = k
			}
		}
		delete(d.wallets, oldest)
	}
	d.wallets[id] = w
}

func (d *demoWallets) get(id string) (*demoWallet, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, ok := d.wallets[id]
	if !ok || d.now().After(w.expires) {
		return nil, api.ErrDemoWallet
	}
	return w, nil
}

func (d *demoWallets) CodeRequest(_ context.Context, id string, consent []string) (json.RawMessage, error) {
	w, err := d.get(id)
	if err != nil {
		return nil, err
	}
	for _, c := range consent {
		if !slices.Contains(w.consent, c) {
			return nil, fmt.Errorf("%w: the binding attests no claim %q", api.ErrDemoRequest, c)
		}
	}
	return w.holder.OnlineCodeRequest(strings.Join(consent, ","))
}

func (d *demoWallets) Present(_ context.Context, id string, disclose []string, audience, nonce string) (string, error) {
	w, err := d.get(id)
	if err != nil {
		return "", err
	}
	for _, c := range disclose {
		if !slices.Contains(w.disclosable, c) {
			return "", fmt.Errorf("%w: the credential has no disclosable claim %q", api.ErrDemoRequest, c)
		}
	}
	return w.holder.Present(strings.Join(disclose, ","), audience, nonce)
}

// Extend keeps wallet id another demoWalletTTL from now, as often as the
// page asks (WCAG 2.2.1: at least ten times; the node keeps at most
// maxDemoWallets wallets either way).
func (d *demoWallets) Extend(_ context.Context, id string) (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, ok := d.wallets[id]
	now := d.now()
	if !ok || now.After(w.expires) {
		return 0, api.ErrDemoWallet
	}
	w.expires = now.Add(demoWalletTTL)
	return demoWalletTTL, nil
}
