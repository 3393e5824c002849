// Package leakcheck finds personal data and secrets where they must never
// be: files in a data directory, captured logs, every Redis database.
//
// A test gives a Scanner the raw values it used (ID numbers, names,
// tokens). The Scanner decodes what it reads before matching — base64 and
// base64url at every alignment, base45 (a QR code's text), hex,
// percent-encoding, JSON string escapes, gzip and zlib, stacked up to four deep, as in a Han name \u-escaped in the
// payload of a vc+jwt — and looks for each value in UTF-8, in UTF-16
// (either byte order) and in GBK.
// NewDelimited is for short secrets such as PINs, matched in clear as
// whole tokens only.
//
// Every scan carries its own positive control. The test plants the
// Scanner's canary, a fake secret encoded the way a credential carries data,
// where the workload writes (PlantDir, PlantRedis, PlantLog), and a scan
// that does not find it there fails the test: a scan of the wrong folder,
// of one Redis database out of sixteen or of an empty log cannot pass.
// A canary that is planted and never scanned fails the test too.
package leakcheck

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Scanner looks for a fixed set of secrets, and for its canary, in what a
// test scans. It is not safe for concurrent use.
type Scanner struct {
	t       testing.TB
	m       *matcher                       // the secrets, then the canary
	canary  int                            // index of the canary in m.secrets
	text    string                         // the canary as planted
	dirs    map[string]bool                // planted file path -> scanned
	redises map[string]map[int]*redisPlant // server address -> db -> plant
	logs    int                            // canaries written to logs
	logsHit bool                           // a log scan found one
}

type redisPlant struct {
	key     string
	scanned bool
}

// New returns a Scanner for secrets, which it finds in clear and encoded.
// Each must be at least 6 bytes (a Han name of two characters is): a
// shorter value turns up by chance in decoded random data (use
// NewDelimited).
func New(t testing.TB, secrets ...string) *Scanner {
	t.Helper()
	for _, s := range secrets {
		if s != "" && len(s) < 6 { // newScanner refuses an empty one
			t.Fatalf("leakcheck: secret %q is shorter than 6 bytes; use NewDelimited", mask(s))
		}
	}
	// A fake name and number, JSON-escaped in a base64url payload that
	// starts three characters into its run: finding it takes the decoders.
	canary := "金丝雀" + randomDigits(12)
	quoted := strconv.QuoteToASCII(canary)
	payload := `{"sub":"` + quoted[1:len(quoted)-1] + `","iat":1700000000}`
	text := `{"level":"INFO","msg":"leakcheck canary","credential":"v1_` + base64.RawURLEncoding.EncodeToString([]byte(payload)) + `"}` + "\n"
	return newScanner(t, false, secrets, canary, text)
}

// NewDelimited returns a Scanner for short secrets such as PINs, which it
// finds only in clear and not next to a letter, a digit or a '.': a PIN is
// not "found" inside a duration of 1.482916ms or a random hex ID.
func NewDelimited(t testing.TB, secrets ...string) *Scanner {
	t.Helper()
	canary := randomDigits(6)
	for slices.Contains(secrets, canary) {
		canary = randomDigits(6)
	}
	return newScanner(t, true, secrets, canary, `{"level":"INFO","msg":"leakcheck canary","pin":"`+canary+`"}`+"\n")
}

func newScanner(t testing.TB, delimited bool, secrets []string, canary, text string) *Scanner {
	t.Helper()
	if slices.Contains(secrets, "") {
		t.Fatalf("leakcheck: an empty secret (a value the test meant to set is missing)")
	}
	s := &Scanner{
		t:       t,
		m:       newMatcher(delimited, append(slices.Clone(secrets), canary)),
		canary:  len(secrets),
		text:    text,
		dirs:    map[string]bool{},
		redises: map[string]map[int]*redisPlant{},
	}
	t.Cleanup(func() {
		if t.Failed() {
			return // the scan was cut short by the failure
		}
		for _, where := range s.unscanned() {
			t.Errorf("leakcheck: the canary planted in %s was never scanned", where)
		}
	})
	return s
}

// randomDigits returns n random decimal digits.
func randomDigits(n int) string {
	v, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return fmt.Sprintf("%0*d", n, v)
}

// PlantDir writes the canary to a new file in dir.
func (s *Scanner) PlantDir(dir string) {
	s.t.Helper()
	if err := s.plantDir(dir); err != nil {
		s.t.Fatal(err)
	}
}

// PlantRedis stores the canary under a new key in every database of the
// server c talks to, as a string, hash, list, set, sorted set or stream in
// turn.
func (s *Scanner) PlantRedis(c *redis.Client) {
	s.t.Helper()
	if err := s.plantRedis(s.t.Context(), c); err != nil {
		s.t.Fatal(err)
	}
}

// PlantLog writes the canary to a log as one JSON line.
func (s *Scanner) PlantLog(w io.Writer) {
	s.t.Helper()
	if _, err := io.WriteString(w, s.text); err != nil {
		s.t.Fatal(err)
	}
	s.logs++
}

// Dir reads every file under root and returns "path: secret (how)" for
// each secret found. It fails the test if a file cannot be read, if root
// holds something other than files and directories, if no canary was
// planted under root or one was not found, or if root holds nothing else.
func (s *Scanner) Dir(root string) []string {
	s.t.Helper()
	hits, err := s.dir(root)
	if err != nil {
		s.t.Fatal(err)
	}
	return hits
}

// Redis reads every key of every type in every database of the server c
// talks to and returns "redis db N key K: secret (how)" for each secret
// found. It fails the test on any error, or if a database lacks the canary
// PlantRedis put there.
func (s *Scanner) Redis(c *redis.Client) []string {
	s.t.Helper()
	hits, err := s.redis(s.t.Context(), c)
	if err != nil {
		s.t.Fatal(err)
	}
	return hits
}

// Log returns "log: secret (how)" for each secret found in data, a
// captured log. It fails the test if data lacks the canary PlantLog wrote.
func (s *Scanner) Log(data []byte) []string {
	s.t.Helper()
	hits, err := s.log(data)
	if err != nil {
		s.t.Fatal(err)
	}
	return hits
}

// errBlind is wrapped by every error saying a scan missed its canary.
var errBlind = errors.New("leakcheck: the canary was not found, so the scan proves nothing")

func (s *Scanner) plantDir(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	name := filepath.Join(dir, "leakcheck-canary-"+randomDigits(8))
	if err := os.WriteFile(name, []byte(s.text), 0o600); err != nil {
		return err
	}
	s.dirs[name] = false
	return nil
}

func (s *Scanner) dir(root string) ([]string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	var hits []string
	found, others := map[string]bool{}, 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if d.Type()&fs.ModeSocket != 0 {
			return nil // a socket stores nothing (a node's admin socket)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("leakcheck: %s is not a regular file (%v): cannot scan it", path, d.Type())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, planted := s.dirs[path]; !planted {
			others++
		}
		for i, how := range s.m.find(data) {
			if i == s.canary {
				found[path] = true
			} else {
				hits = append(hits, fmt.Sprintf("%s: %s (%s)", path, mask(s.m.secrets[i]), how))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("leakcheck: scanning %s: %w", root, err)
	}
	planted := 0
	for path := range s.dirs {
		if rel, err := filepath.Rel(root, path); err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		planted++
		if !found[path] {
			return nil, fmt.Errorf("%w: planted at %s", errBlind, path)
		}
		s.dirs[path] = true
	}
	switch {
	case planted == 0:
		return nil, fmt.Errorf("leakcheck: no canary under %s: call PlantDir(%q) before scanning", root, root)
	case others == 0:
		return nil, fmt.Errorf("leakcheck: %s holds nothing but the canary: is it the data directory?", root)
	}
	slices.Sort(hits)
	return hits, nil
}

func (s *Scanner) log(data []byte) ([]string, error) {
	if s.logs == 0 {
		return nil, errors.New("leakcheck: no canary in any log: call PlantLog before scanning")
	}
	var hits []string
	found := false
	for i, how := range s.m.find(data) {
		if i == s.canary {
			found = true
		} else {
			hits = append(hits, fmt.Sprintf("log: %s (%s)", mask(s.m.secrets[i]), how))
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: planted in a log", errBlind)
	}
	s.logsHit = true
	slices.Sort(hits)
	return hits, nil
}

// databases returns how many databases the server has.
func databases(ctx context.Context, c *redis.Client) (int, error) {
	v, err := c.ConfigGet(ctx, "databases").Result()
	if err != nil {
		return 0, fmt.Errorf("leakcheck: CONFIG GET databases: %w", err)
	}
	n, err := strconv.Atoi(v["databases"])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("leakcheck: CONFIG GET databases: %q", v["databases"])
	}
	return n, nil
}

// eachDB calls f with a client for each database of c's server.
func eachDB(ctx context.Context, c *redis.Client, f func(db int, dc *redis.Client) error) error {
	n, err := databases(ctx, c)
	if err != nil {
		return err
	}
	for db := range n {
		dc := dbClient(c, db)
		err := f(db, dc)
		dc.Close()
		if err != nil {
			return fmt.Errorf("leakcheck: redis db %d: %w", db, err)
		}
	}
	return nil
}

// dbClient returns a client for database db of c's server. (A SELECT on a
// connection borrowed from c would return it to c's pool on another
// database; copying c's options would share state c's constructor set.)
func dbClient(c *redis.Client, db int) *redis.Client {
	o := c.Options()
	return redis.NewClient(&redis.Options{
		Network: o.Network, Addr: o.Addr, Dialer: o.Dialer, TLSConfig: o.TLSConfig,
		Username: o.Username, Password: o.Password, CredentialsProvider: o.CredentialsProvider,
		Protocol: o.Protocol, DB: db,
	})
}

func (s *Scanner) plantRedis(ctx context.Context, c *redis.Client) error {
	plants := map[int]*redisPlant{}
	err := eachDB(ctx, c, func(db int, dc *redis.Client) error {
		key := "leakcheck-canary-" + randomDigits(8)
		var err error
		switch db % 6 {
		case 0:
			err = dc.Set(ctx, key, s.text, 0).Err()
		case 1:
			err = dc.HSet(ctx, key, "credential", s.text).Err()
		case 2:
			err = dc.RPush(ctx, key, "x", s.text).Err()
		case 3:
			err = dc.SAdd(ctx, key, "x", s.text).Err()
		case 4:
			err = dc.ZAdd(ctx, key, redis.Z{Member: s.text}).Err()
		case 5:
			err = dc.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []string{"credential", s.text}}).Err()
		}
		plants[db] = &redisPlant{key: key}
		return err
	})
	if err != nil {
		return err
	}
	s.redises[c.Options().Addr] = plants
	return nil
}

func (s *Scanner) redis(ctx context.Context, c *redis.Client) ([]string, error) {
	plants := s.redises[c.Options().Addr]
	if plants == nil {
		return nil, errors.New("leakcheck: no canary in this Redis: call PlantRedis before scanning")
	}
	var hits []string
	err := eachDB(ctx, c, func(db int, dc *redis.Client) error {
		p := plants[db]
		if p == nil {
			return errors.New("no canary planted in this database")
		}
		found := false
		iter := dc.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			blob, err := readKey(ctx, dc, key)
			if err != nil {
				return fmt.Errorf("key %q: %w", key, err)
			}
			for i, how := range s.m.find(blob) {
				switch {
				case i != s.canary:
					hits = append(hits, fmt.Sprintf("redis db %d key %q: %s (%s)", db, key, mask(s.m.secrets[i]), how))
				case key == p.key:
					found = true
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: planted under key %q", errBlind, p.key)
		}
		p.scanned = true
		return nil
	})
	slices.Sort(hits)
	return hits, err
}

// readKey returns the key's name and everything it holds, NUL-separated.
func readKey(ctx context.Context, c *redis.Client, key string) ([]byte, error) {
	typ, err := c.Type(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	parts := []string{key}
	switch typ {
	case "none": // expired or deleted since SCAN saw it
	case "string":
		v, err := c.Get(ctx, key).Result()
		if err != nil {
			return nil, err
		}
		parts = append(parts, v)
	case "hash":
		m, err := c.HGetAll(ctx, key).Result()
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			parts = append(parts, k, v)
		}
	case "list":
		l, err := c.LRange(ctx, key, 0, -1).Result()
		if err != nil {
			return nil, err
		}
		parts = append(parts, l...)
	case "set":
		l, err := c.SMembers(ctx, key).Result()
		if err != nil {
			return nil, err
		}
		parts = append(parts, l...)
	case "zset":
		l, err := c.ZRange(ctx, key, 0, -1).Result()
		if err != nil {
			return nil, err
		}
		parts = append(parts, l...)
	case "stream":
		msgs, err := c.XRange(ctx, key, "-", "+").Result()
		if err != nil {
			return nil, err
		}
		for _, msg := range msgs {
			parts = append(parts, msg.ID)
			for k, v := range msg.Values {
				parts = append(parts, k, fmt.Sprint(v))
			}
		}
	default:
		return nil, fmt.Errorf("type %q cannot be read", typ)
	}
	return []byte(strings.Join(parts, "\x00")), nil
}

// unscanned lists the places a canary was planted and never scanned.
func (s *Scanner) unscanned() []string {
	var out []string
	for path, scanned := range s.dirs {
		if !scanned {
			out = append(out, path)
		}
	}
	for addr, plants := range s.redises {
		for db, p := range plants {
			if !p.scanned {
				out = append(out, fmt.Sprintf("redis %s db %d", addr, db))
			}
		}
	}
	if s.logs > 0 && !s.logsHit {
		out = append(out, "a log")
	}
	slices.Sort(out)
	return out
}

// mask keeps a report from repeating the secret it found.
func mask(s string) string {
	r := []rune(s)
	if len(r) <= 4 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:2]) + strings.Repeat("*", len(r)-4) + string(r[len(r)-2:])
}
