// Command trustid-qrload load-tests online QR code redemption
// (POST /v1/qr/verify) on loopback, with Redis as the ephemeral store.
//
// It runs three processes: redis-server (unless --redis is given), the
// node under test (this binary with the "server" argument: the real api
// server with the real OAuth service and bearer authorizer, the QR
// service on store.Redis, SM2 keys in a keystore) and the load generator
// (this process). The generator gets an access token with
// client_credentials, pre-issues every code through POST /v1/qr with
// device-signed holder requests, then, in the timed phase only, redeems
// them with --concurrency keep-alive connections. A fraction (--dup) of
// the codes is sent twice at the same moment; every code must be redeemed
// exactly once.
//
//	go run ./cmd/trustid-qrload --codes 60000 --concurrency 48
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "server" {
		if err := runServer(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "trustid-qrload server:", err)
			os.Exit(1)
		}
		return
	}
	if err := runLoad(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "trustid-qrload:", err)
		os.Exit(1)
	}
}

// setup is what the server process tells the generator, on one line.
type setup struct {
	URL          string `json:"url"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Binding      []byte `json:"binding"`
	DeviceKey    string `json:"device_key"`
	Region       string `json:"region"`
}

func runLoad(args []string) error {
	fs := flag.NewFlagSet("trustid-qrload", flag.ContinueOnError)
	redisAddr := fs.String("redis", "", "Redis address (default: start redis-server on a free loopback port)")
	codes := fs.Int("codes", 50000, "codes to pre-issue and redeem")
	conc := fs.Int("concurrency", 48, "concurrent connections in the timed phase")
	dup := fs.Float64("dup", 0.1, "fraction of codes sent twice at once (double-redemption probe)")
	issueConc := fs.Int("issue-concurrency", 8, "concurrent connections while pre-issuing")
	serverProcs := fs.Int("server-procs", 0, "GOMAXPROCS of the server process (0: all cores)")
	ttl := fs.Duration("ttl", 2*time.Minute, "code TTL on the server (must cover pre-issue + timed phase)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *codes < 1 || *codes > 1_000_000 || *conc < 1 || *conc > 1024 || *dup < 0 || *dup > 1 {
		return errors.New("flags out of range")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "trustid-qrload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *redisAddr == "" {
		addr, stop, err := startRedis(ctx, dir)
		if err != nil {
			return err
		}
		defer stop()
		*redisAddr = addr
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv := exec.CommandContext(ctx, self, "server", "--redis", *redisAddr, "--dir", dir, "--ttl", ttl.String())
	if *serverProcs > 0 {
		srv.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(*serverProcs))
	}
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("server did not start: %w", err)
	}
	var su setup
	if err := json.Unmarshal(line, &su); err != nil {
		return fmt.Errorf("server setup line: %w", err)
	}
	go io.Copy(io.Discard, out)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2, IdleConnTimeout: time.Minute,
	}}
	token, err := getToken(ctx, client, su)
	if err != nil {
		return err
	}
	device, err := gm.ParsePrivateKeyPEM([]byte(su.DeviceKey))
	if err != nil {
		return err
	}

	fmt.Printf("machine: %d CPUs, %s; server GOMAXPROCS %s; redis %s\n", runtime.NumCPU(), runtime.Version(), orAll(*serverProcs), *redisAddr)
	fmt.Printf("pre-issuing %d codes with %d connections...\n", *codes, *issueConc)
	t0 := time.Now()
	list, err := preIssue(ctx, client, su, device, *codes, *issueConc)
	if err != nil {
		return err
	}
	issueDur := time.Since(t0)
	fmt.Printf("pre-issued %d codes in %v (%.0f issues/s)\n", len(list), issueDur.Round(time.Millisecond), float64(len(list))/issueDur.Seconds())

	// The work queue: every code once, some twice back to back so two
	// workers race on them.
	ndup := int(math.Round(float64(len(list)) * *dup))
	queue := make([]int, 0, len(list)+ndup)
	for i := range list {
		queue = append(queue, i)
		if i < ndup {
			queue = append(queue, i)
		}
	}
	wins := make([]atomic.Int32, len(list))
	var next atomic.Int64
	var ok, used, other atomic.Int64
	lat := make([][]time.Duration, *conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *conc {
		wg.Go(func() {
			mine := make([]time.Duration, 0, len(queue) / *conc + 16)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(queue) {
					break
				}
				idx := queue[i]
				t := time.Now()
				status, err := redeem(ctx, client, su.URL, token, list[idx])
				mine = append(mine, time.Since(t))
				switch {
				case err != nil:
					other.Add(1)
					if other.Load() < 5 {
						fmt.Fprintln(os.Stderr, "request:", err)
					}
				case status == 200:
					ok.Add(1)
					wins[idx].Add(1)
				case status == 409:
					used.Add(1)
				default:
					other.Add(1)
				}
			}
			lat[w] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	double, lost := 0, 0
	for i := range wins {
		switch n := wins[i].Load(); {
		case n > 1:
			double++
		case n == 0:
			lost++
		}
	}
	total := len(all)
	fmt.Printf("timed phase: %d requests (%d codes, %d sent twice) in %v with %d connections\n", total, len(list), ndup, elapsed.Round(time.Millisecond), *conc)
	fmt.Printf("throughput: %.0f requests/s, %.0f successful redemptions/s\n", float64(total)/elapsed.Seconds(), float64(ok.Load())/elapsed.Seconds())
	fmt.Printf("latency: p50 %v  p90 %v  p99 %v  max %v\n", pct(all, 50), pct(all, 90), pct(all, 99), all[len(all)-1])
	fmt.Printf("results: %d redeemed (200), %d refused as used (409), %d other\n", ok.Load(), used.Load(), other.Load())
	fmt.Printf("double redemptions: %d; codes never redeemed: %d\n", double, lost)
	if double > 0 || lost > 0 || other.Load() > 0 || int(used.Load()) != ndup {
		return errors.New("redemption invariants violated")
	}
	return nil
}

func orAll(n int) string {
	if n == 0 {
		return "all"
	}
	return strconv.Itoa(n)
}

func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))].Round(10 * time.Microsecond)
}

func startRedis(ctx context.Context, dir string) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("redis-server not found: install it (apt-get install redis-server) or pass --redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.CommandContext(ctx, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return "", nil, errors.New("redis-server did not start")
		}
	}
	return addr, func() { cmd.Process.Kill(); cmd.Wait() }, nil
}

func getToken(ctx context.Context, c *http.Client, su setup) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"qr:redeem"}}
	req, _ := http.NewRequestWithContext(ctx, "POST", su.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(su.ClientID, su.ClientSecret)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &t) != nil || t.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: %d %s", resp.StatusCode, b)
	}
	return t.AccessToken, nil
}

func preIssue(ctx context.Context, c *http.Client, su setup, device crypto.Signer, n, conc int) ([]string, error) {
	list := make([]string, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				r := &qrcode.HolderRequest{Binding: su.Binding, Time: time.Now().Unix(), Nonce: make([]byte, 16), Region: su.Region, Consent: []string{"age_over_18"}}
				rand.Read(r.Nonce)
				if err := qrcode.SignHolderRequest(nil, device, r); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				body, _ := json.Marshal(r)
				req, _ := http.NewRequestWithContext(ctx, "POST", su.URL+"/v1/qr", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				var out struct {
					Code string `json:"code"`
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 || json.Unmarshal(b, &out) != nil {
					mu.Lock()
					firstErr = fmt.Errorf("issue: %d %s", resp.StatusCode, b)
					mu.Unlock()
					return
				}
				list[i] = out.Code
			}
		})
	}
	wg.Wait()
	return list, firstErr
}

func redeem(ctx context.Context, c *http.Client, base, token, code string) (int, error) {
	body := `{"code":"` + code + `"}`
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/qr/verify", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
