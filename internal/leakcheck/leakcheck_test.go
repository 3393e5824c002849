package leakcheck

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/emmansun/gmsm/sm3"
	"github.com/redis/go-redis/v9"
	"golang.org/x/text/encoding/simplifiedchinese"
	xunicode "golang.org/x/text/encoding/unicode"

	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/qrcode"
)

var (
	b64url = base64.RawURLEncoding.EncodeToString
	b64std = base64.StdEncoding.EncodeToString
)

func b(s string) []byte { return []byte(s) }

// jsonASCII escapes every non-ASCII character as JSON does with
// ASCII-only output: \uXXXX, a surrogate pair beyond the BMP.
func jsonASCII(s string) string { return jsonEscaped(s, `\u%04x`) }

func jsonEscaped(s, format string) string {
	var sb strings.Builder
	for _, r := range s {
		if r < 0x80 {
			sb.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&sb, format, u)
		}
	}
	return sb.String()
}

func gbk(s string) (string, bool) {
	g, err := simplifiedchinese.GBK.NewEncoder().String(s)
	return g, err == nil
}

// utf16le and utf16be encode s with x/text, without a byte order mark.
func utf16le(s string) string { return utf16In(xunicode.LittleEndian, s) }
func utf16be(s string) string { return utf16In(xunicode.BigEndian, s) }

func utf16In(order xunicode.Endianness, s string) string {
	u, err := xunicode.UTF16(order, xunicode.IgnoreBOM).NewEncoder().String(s)
	if err != nil {
		panic(err) // every string the tests encode is valid UTF-8
	}
	return u
}

func jwtOf(payload string) string {
	sig := make([]byte, 64)
	for i := range sig {
		sig[i] = byte(i * 37)
	}
	return b64url([]byte(`{"alg":"SM2","typ":"vc+jwt","kid":"k1"}`)) + "." + b64url(b(payload)) + "." + b64url(sig)
}

// compress writes s between runs of zeros (a status list's bits), so
// that DEFLATE codes it with Huffman codes: a short s alone goes into a
// stored block, in clear, and a case built on it would pass without
// inflating anything. hdr is the length of the format's header.
func compress(zw interface {
	Write([]byte) (int, error)
	Close() error
}, buf *bytes.Buffer, hdr int, s string) string {
	zeros := strings.Repeat("0", 256)
	zw.Write(b(zeros + s + zeros))
	zw.Close()
	if buf.Bytes()[hdr]>>1&3 == 0 { // BTYPE 00: stored (RFC 1951, 3.2.3)
		panic("leakcheck test: DEFLATE stored the text in clear")
	}
	return buf.String()
}

func gzipped(s string) string {
	var buf bytes.Buffer
	return compress(gzip.NewWriter(&buf), &buf, 10, s)
}

func zlibbed(s string) string {
	var buf bytes.Buffer
	return compress(zlib.NewWriter(&buf), &buf, 2, s)
}

// encodings each hide secret after k bytes of other text inside a longer
// blob, the way storage, logs and credentials carry data. ok is false when
// the encoding cannot carry the secret (GBK has no U+20BB7).
func encodings() map[string]func(secret string, k int) (blob string, ok bool) {
	pad := func(k int) string { return strings.Repeat("x", k) }
	cases := map[string]func(string, int) (string, bool){
		"clear": func(s string, k int) (string, bool) { return "log line " + pad(k) + s + " end", true },
		"JWT payload": func(s string, k int) (string, bool) {
			return "Bearer " + jwtOf(`{"iss":"https://node.example","vc":{"credentialSubject":{"`+pad(k)+`n":"`+s+`"}}}`), true
		},
		"JWT payload, JSON-escaped": func(s string, k int) (string, bool) {
			return `{"credential":"` + jwtOf(`{"iss":"n","`+pad(k)+`name":"`+jsonASCII(s)+`"}`) + `"}`, true
		},
		"SD-JWT disclosure": func(s string, k int) (string, bool) {
			d1 := b64url(b(`["2GLC42sKQveCfGfryNRN9w","given_name","x"]`))
			d2 := b64url(b(`["` + pad(k) + `lklxF5jMYlGTPUovMNIvCA","name","` + s + `"]`))
			return jwtOf(`{"_sd":["CrQe7S5kqBAHt-nMYXgc6bdt2SH5aTY1sU_M-PgkjPI"]}`) + "~" + d1 + "~" + d2 + "~", true
		},
		"SD-JWT disclosure, JSON-escaped": func(s string, k int) (string, bool) {
			return jwtOf(`{}`) + "~" + b64url(b(`["`+pad(k)+`salt","name","`+jsonASCII(s)+`"]`)) + "~", true
		},
		"base64, padded, in JSON": func(s string, k int) (string, bool) {
			return `{"blob":"` + b64std(b(pad(k)+s+" tail")) + `","n":1}`, true
		},
		"hex, lower case": func(s string, k int) (string, bool) {
			return "ref=" + hex.EncodeToString(b(pad(k)+s+"!")) + ";", true
		},
		"hex, upper case": func(s string, k int) (string, bool) {
			return "REF:" + strings.ToUpper(hex.EncodeToString(b(pad(k)+s))) + " ", true
		},
		"percent, upper case": func(s string, k int) (string, bool) {
			var sb strings.Builder
			for _, c := range b(pad(k) + s) {
				fmt.Fprintf(&sb, "%%%02X", c)
			}
			return "GET /cb?state=1&name=" + sb.String() + "&x=2", true
		},
		"percent, lower case": func(s string, k int) (string, bool) {
			lower := regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.QueryEscape(pad(k)+s), strings.ToLower)
			return "GET /cb?name=" + lower + " HTTP/1.1", true
		},
		"JSON \\u escapes": func(s string, k int) (string, bool) {
			return `{"msg":"x","name":"` + pad(k) + jsonASCII(s) + `"}`, true
		},
		"JSON \\u escapes, upper-case hex": func(s string, k int) (string, bool) {
			return `{"name":"` + pad(k) + jsonEscaped(s, `\u%04X`) + `"}`, true
		},
		"GBK": func(s string, k int) (string, bool) {
			g, ok := gbk("姓名:" + pad(k) + s + ";")
			return "\x00\x01" + g + "\x00", ok
		},
		"GBK in base64": func(s string, k int) (string, bool) {
			g, ok := gbk("姓名:" + pad(k) + s)
			return `{"legacy":"` + b64std(b(g)) + `"}`, ok
		},
		"GBK in hex": func(s string, k int) (string, bool) {
			g, ok := gbk(pad(k) + s)
			return "0x" + hex.EncodeToString(b(g)), ok
		},
		"UTF-16LE with a byte order mark (a Windows text file)": func(s string, k int) (string, bool) {
			return "\xff\xfe" + utf16le("姓名:"+pad(k)+s+"\r\n"), true
		},
		"UTF-16BE in base64 (a BMPString, a Java string)": func(s string, k int) (string, bool) {
			return `{"bmp":"` + b64std(b(utf16be(pad(k)+s))) + `"}`, true
		},
		"UTF-16LE in hex": func(s string, k int) (string, bool) {
			return "0x" + hex.EncodeToString(b(utf16le(pad(k)+s))) + " ", true
		},
		"gzip in base64url in a JWT (a status list)": func(s string, k int) (string, bool) {
			return jwtOf(`{"status_list":{"bits":1,"lst":"` + b64url(b(gzipped(pad(k)+`{"n":"`+s+`"}`))) + `"}}`), true
		},
		"base45 QR text over CBOR": func(s string, k int) (string, bool) {
			cbor := append([]byte{0xa2, 0x64, 'n', 'a', 'm', 'e', 0x78, byte(k + len(s))}, pad(k)+s...)
			return "TID1:" + string(qrcode.AppendBase45(nil, append(cbor, 0x61, 'x', 0x01))), true
		},
		"SM3 digest, hex": func(s string, k int) (string, bool) {
			d := sm3.Sum(b(s))
			return "key=" + pad(k) + hex.EncodeToString(d[:]) + ";", true
		},
		"SHA-256 digest, base64url": func(s string, k int) (string, bool) {
			d := sha256.Sum256(b(s))
			return `{"h":"` + pad(k) + b64url(d[:]) + `"}`, true
		},
		"zlib, raw": func(s string, k int) (string, bool) {
			return "\x00bucket\x00" + zlibbed(pad(k)+jsonASCII(s)) + "\x00", true
		},
		"four deep: JSON escapes in gzip in base64url, hex-dumped": func(s string, k int) (string, bool) {
			session := b64url(b(gzipped(`{"n":"` + pad(k) + jsonASCII(s) + `"}`)))
			return "dump=" + hex.EncodeToString(b(session)) + ";", true
		},
	}
	for j := range 4 { // base64url glued to j characters of its alphabet
		cases[fmt.Sprintf("base64url after %d junk characters", j)] = func(s string, k int) (string, bool) {
			return "sid=" + "Zq_9"[:j] + b64url(b(pad(k)+`{"name":"`+s+`"}`)) + " ok", true
		}
	}
	return cases
}

// secrets of every shape a test hands the scanner: an ID number, Han names
// (one of two characters, whose GBK form is only 4 bytes; one beyond the
// BMP), a Latin name.
var testSecrets = []string{"11010519491231002X", "欧阳娜娜", "张三", "𠮷田", "Zhang Wei"}

// lookalike returns a value of the same shape as s (digit for digit, Han
// for Han) that is not s.
func lookalike(rng *rand.Rand, s string) string {
	for {
		var sb strings.Builder
		for _, r := range s {
			switch {
			case r >= '0' && r <= '9':
				sb.WriteRune('0' + rune(rng.IntN(10)))
			case r < 0x80:
				sb.WriteRune('a' + rune(rng.IntN(26)))
			case r < 0x10000:
				sb.WriteRune(0x4e00 + rune(rng.IntN(0x51a5)))
			default:
				sb.WriteRune(0x20000 + rune(rng.IntN(0xa6df)))
			}
		}
		if sb.String() != s {
			return sb.String()
		}
	}
}

// TestFindEveryEncodingAtEveryOffset: each secret hidden in each encoding
// after 0..3 bytes of other text is found, and said how; the same blob
// holding a look-alike, and random bytes as long as the blob, are not
// reported.
func TestFindEveryEncodingAtEveryOffset(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2)) // fixed: the negative controls are the same every run
	for name, enc := range encodings() {
		for si, secret := range testSecrets {
			m := newMatcher(false, testSecrets)
			for k := range 4 {
				blob, ok := enc(secret, k)
				if !ok {
					continue
				}
				if got := m.find(b(blob)); got[si] == "" {
					t.Errorf("%s, offset %d: %q not found in %q", name, k, secret, blob)
				}
				other, _ := enc(lookalike(rng, secret), k)
				if got := m.find(b(other)); got[si] != "" {
					t.Errorf("%s, offset %d: %q found in a look-alike (%s): %q", name, k, secret, got[si], other)
				}
				noise := make([]byte, len(blob))
				for i := range noise {
					noise[i] = byte(rng.Uint32())
				}
				if got := m.find(noise); len(got) != 0 {
					t.Errorf("%s, offset %d: found %v in random bytes", name, k, got)
				}
			}
		}
	}
}

// TestFindSaysHow: a report names the decodings that exposed the secret.
func TestFindSaysHow(t *testing.T) {
	m := newMatcher(false, []string{"张三"})
	blob := "x_" + b64url(b(`{"n":"`+jsonASCII("张三")+`"}`))
	if got := m.find(b(blob)); got[0] != "base64@2 > json-escape > utf-8" {
		t.Errorf("how: %q", got[0])
	}
	g, _ := gbk("张三")
	if got := m.find(b(hex.EncodeToString(b(g)))); got[0] != "hex@0 > gbk" {
		t.Errorf("how: %q", got[0])
	}
}

// TestShortGBKNeedsText: a two-character name in GBK (4 bytes) counts in
// GBK prose, in a record and at the edges, not amid bytes no text has.
func TestShortGBKNeedsText(t *testing.T) {
	name, _ := gbk("张三")
	prose, _ := gbk("姓名：张三，性别：男，民族：汉")
	m := newMatcher(false, []string{"张三"})
	for data, want := range map[string]bool{
		prose:                              true,
		"\x00\x12" + name + "\x00\x07":     true,
		name:                               true,
		"\x80\xff" + name + "\x00":         false,
		"\x00" + name + "\xa1\x30\x90\x91": false,
	} {
		if got := m.find(b(data)); (got[0] != "") != want {
			t.Errorf("%q: found %v, want %v", data, got, want)
		}
	}
}

// TestShortUTF16NeedsText: a two-character name in UTF-16 (4 bytes)
// counts in UTF-16 prose and records and at the edges, not amid bytes no
// UTF-16 text has, nor in ASCII text whose bytes spell it.
func TestShortUTF16NeedsText(t *testing.T) {
	m := newMatcher(false, []string{"张三"})
	be := utf16be("张三")
	if be != "_ N\t" {
		t.Fatalf("张三 in UTF-16BE is %q", be)
	}
	for data, want := range map[string]bool{
		utf16le("姓名：张三，性别：男"):                true,
		utf16be("name=张三;id=1"):              true,
		"\xfe\xff" + be:                      true,
		utf16le("张三"):                        true,
		"\x00\xd8" + utf16le("张三") + "\x00":  false,
		"\x12\x34\x56\xd9" + be + "\xdc\x00": false,
		"recordvalue" + be + "continuesher":  false,
	} {
		if got := m.find(b(data)); (got[0] != "") != want {
			t.Errorf("%q: found %v, want %v", data, got, want)
		}
	}
}

// TestNoFalsePositivesInNoise: a megabyte of random bytes and of random
// base64, hex and JSON-escaped text holds none of the secrets, though the
// shortest (张三 in GBK) is 4 bytes.
func TestNoFalsePositivesInNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	raw := make([]byte, 1<<19)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	text := b64url(raw) + " " + hex.EncodeToString(raw[:1<<16]) + " " + jsonASCII(string([]rune(string(raw[:1<<15]))))
	m := newMatcher(false, testSecrets)
	start := time.Now()
	for _, data := range [][]byte{raw, b(text)} {
		if got := m.find(data); len(got) != 0 {
			t.Errorf("found %v in noise", got)
		}
	}
	t.Logf("%d KB of noise scanned in %v", (len(raw)+len(text))>>10, time.Since(start))
}

// TestUnescapeJSON: surrogate pairs join; a lone surrogate or a bad escape
// is left as it was.
func TestUnescapeJSON(t *testing.T) {
	for in, want := range map[string]string{
		`\ud842\udfb7\u7530`:       "𠮷田",
		`\uD842\uDFB7`:             "𠮷",
		`\ud842x`:                  `\ud842x`,
		`\udfb7\ud842`:             `\udfb7\ud842`,
		`a\"b\\c\/d\n\u00e9`:       "a\"b\\c/d\né",
		`\u12`:                     `\u12`,
		`\q\u4e09`:                 `\q三`,
		`tail\`:                    `tail\`,
		`\ud842\u0041`:             `\ud842A`,
		`\u5f20\u4e09\u0031\u0030`: "张三10",
	} {
		if got, _ := unescapeJSON(b(in)); string(got) != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestDelimited(t *testing.T) {
	m := newMatcher(true, []string{"482916"})
	for data, want := range map[string]bool{
		`pin=482916 ok`:         true,
		`{"pin":"482916"}`:      true,
		`duration=1.482916ms`:   false,
		`"duration":1482916`:    false,
		`request_id=ab482916cd`: false,
		`x 1482916 y 482916`:    true,
		`482916`:                true,
	} {
		if got := m.find(b(data)); (got[0] != "") != want {
			t.Errorf("%s: found %v, want %v", data, got, want)
		}
	}
}

// planted writes files holding secrets in several encodings under dir.
func planted(t *testing.T, dir string) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o700)
	for name, content := range map[string]string{
		"a.log":                "ok\n",
		"sub/b.db":             "..\x00" + jwtOf(`{"xx":"11010519491231002X"}`) + "\x00..",
		"sub/deeper/c.json":    `{"n":"` + jsonASCII("欧阳娜娜") + `"}`,
		"sub/deeper/clean.txt": "nothing here",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	planted(t, dir)
	s := New(t, testSecrets...)
	s.PlantDir(dir)
	hits := s.Dir(dir)
	if len(hits) != 2 || !strings.HasSuffix(hits[0], "/sub/b.db: "+mask("11010519491231002X")+" (base64@0 > utf-8)") ||
		!strings.HasSuffix(hits[1], "/sub/deeper/c.json: "+mask("欧阳娜娜")+" (json-escape > utf-8)") {
		t.Errorf("hits: %q", hits)
	}
}

// TestDirFailsOnWhatItCannotRead: a dangling link, a link to a file and a
// FIFO fail the scan instead of being skipped.
func TestDirFailsOnWhatItCannotRead(t *testing.T) {
	for name, create := range map[string]func(dir string) error{
		"dangling link": func(dir string) error { return os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "link")) },
		"link to a file holding a secret": func(dir string) error {
			other := filepath.Join(t.TempDir(), "f")
			os.WriteFile(other, b("11010519491231002X"), 0o600)
			return os.Symlink(other, filepath.Join(dir, "link"))
		},
		"link to a directory": func(dir string) error {
			return os.Symlink(dir, filepath.Join(dir, "sub", "loop"))
		},
	} {
		dir := t.TempDir()
		planted(t, dir)
		if err := create(dir); err != nil {
			t.Fatal(err)
		}
		s := New(t, testSecrets...)
		s.PlantDir(dir)
		if _, err := s.dir(dir); err == nil || !strings.Contains(err.Error(), "link") && !strings.Contains(err.Error(), "loop") {
			t.Errorf("%s: %v", name, err)
		}
		s.dirs = nil // the plant was scanned, the scan failed
	}
}

// TestDirPositiveControl: a scan of a folder without a canary, of the
// wrong folder, of a folder holding only the canary, or one that misses
// the canary fails.
func TestDirPositiveControl(t *testing.T) {
	data, other, empty := t.TempDir(), t.TempDir(), t.TempDir()
	planted(t, data)
	planted(t, other)
	s := New(t, testSecrets...)
	if _, err := s.dir(data); err == nil || !strings.Contains(err.Error(), "PlantDir") {
		t.Errorf("no canary: %v", err)
	}
	s.PlantDir(data)
	if _, err := s.dir(other); err == nil || !strings.Contains(err.Error(), "no canary under") {
		t.Errorf("wrong folder: %v", err)
	}
	if got := s.unscanned(); len(got) != 1 || !strings.HasPrefix(got[0], data) {
		t.Errorf("unscanned: %v", got)
	}
	s.PlantDir(empty)
	if _, err := s.dir(empty); err == nil || !strings.Contains(err.Error(), "nothing but the canary") {
		t.Errorf("empty folder: %v", err)
	}
	for path := range s.dirs {
		if strings.HasPrefix(path, data) {
			os.WriteFile(path, b("blinded"), 0o600)
		}
	}
	if _, err := s.dir(data); !errors.Is(err, errBlind) {
		t.Errorf("canary missed: %v", err)
	}
	s.dirs = nil
}

func TestLogPositiveControl(t *testing.T) {
	s := New(t, testSecrets...)
	logs := b(`{"msg":"enrolled","name":"` + jsonASCII("张三") + `"}` + "\n")
	if _, err := s.log(logs); err == nil || !strings.Contains(err.Error(), "PlantLog") {
		t.Errorf("no canary: %v", err)
	}
	var elsewhere, buf bytes.Buffer
	s.PlantLog(&elsewhere)
	if _, err := s.log(logs); !errors.Is(err, errBlind) {
		t.Errorf("canary in another log: %v", err)
	}
	buf.Write(logs)
	s.PlantLog(&buf)
	if hits := s.Log(buf.Bytes()); len(hits) != 1 || hits[0] != "log: "+mask("张三")+" (json-escape > utf-8)" {
		t.Errorf("hits: %q", hits)
	}
	d := NewDelimited(t, "135790")
	d.PlantLog(&buf)
	if hits := d.Log(buf.Bytes()); len(hits) != 0 {
		t.Errorf("delimited: %q", hits)
	}
}

// TestRedisEveryDatabaseAndType: secrets in any database, in any type of
// value or in a key name, are found.
func TestRedisEveryDatabaseAndType(t *testing.T) {
	c := testredis.Client(t, testredis.Start(t, "--databases", "16"))
	ctx := context.Background()
	id, name := "11010519491231002X", "欧阳娜娜"
	inJWT := jwtOf(`{"x":"` + id + `"}`)
	plant := map[int]func(c *redis.Client) error{
		0: func(c *redis.Client) error { return c.Set(ctx, "clean", "harmless", 0).Err() },
		1: func(c *redis.Client) error { return c.Set(ctx, "s", inJWT, 0).Err() },
		2: func(c *redis.Client) error { return c.HSet(ctx, "h", "f", jsonASCII(name)).Err() },
		3: func(c *redis.Client) error { return c.RPush(ctx, "l", "a", b64std(b("xy"+id))).Err() },
		5: func(c *redis.Client) error { return c.SAdd(ctx, "set", "a", url.QueryEscape(name)).Err() },
		8: func(c *redis.Client) error {
			return c.ZAdd(ctx, "z", redis.Z{Score: 1, Member: hex.EncodeToString(b(id))}).Err()
		},
		13: func(c *redis.Client) error {
			return c.XAdd(ctx, &redis.XAddArgs{Stream: "st", Values: []string{"n", name}}).Err()
		},
		15: func(c *redis.Client) error { return c.Set(ctx, "user:"+id, "1", 0).Err() },
	}
	for db, f := range plant {
		dc := dbClient(c, db)
		if err := f(dc); err != nil {
			t.Fatal(err)
		}
		dc.Close()
	}
	s := New(t, id, name)
	s.PlantRedis(c)
	hits := s.Redis(c)
	if len(hits) != len(plant)-1 {
		t.Errorf("%d hits, want %d: %q", len(hits), len(plant)-1, hits)
	}
	for db := range plant {
		if db != 0 && !strings.Contains(strings.Join(hits, "\n"), fmt.Sprintf("redis db %d key", db)) {
			t.Errorf("nothing found in db %d: %q", db, hits)
		}
	}
}

// TestRedisPositiveControl: a scan without a canary, or one that misses
// the canary of any one database, fails.
func TestRedisPositiveControl(t *testing.T) {
	c := testredis.Client(t, testredis.Start(t, "--databases", "16"))
	s := New(t, testSecrets...)
	if _, err := s.redis(t.Context(), c); err == nil || !strings.Contains(err.Error(), "PlantRedis") {
		t.Errorf("no canary: %v", err)
	}
	s.PlantRedis(c)
	dc := dbClient(c, 9)
	defer dc.Close()
	dc.FlushDB(t.Context())
	if _, err := s.redis(t.Context(), c); !errors.Is(err, errBlind) || !strings.Contains(err.Error(), "db 9") {
		t.Errorf("canary of db 9 gone: %v", err)
	}
	s.redises = nil
}

// TestRedisReadError: a value the scanner may not read fails the scan.
func TestRedisReadError(t *testing.T) {
	c := testredis.StartClient(t)
	if err := c.Do(t.Context(), "ACL", "SETUSER", "scanner", "on", "nopass", "~*", "&*", "+@all", "-get").Err(); err != nil {
		t.Fatal(err)
	}
	limited := redis.NewClient(&redis.Options{Addr: c.Options().Addr, Username: "scanner", Password: "any"})
	defer limited.Close()
	s := New(t, testSecrets...)
	s.PlantRedis(c)
	if _, err := s.redis(t.Context(), limited); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("GET refused: %v", err)
	}
	s.redises = nil
}

// TestScannerFailsTheTest: the exported methods fail the calling test
// rather than return an error it could drop.
func TestScannerFailsTheTest(t *testing.T) {
	for want, f := range map[string]func(tb testing.TB){
		"an empty secret":        func(tb testing.TB) { New(tb, "x123456", "") },
		"shorter than 6 bytes":   func(tb testing.TB) { New(tb, "abcde") },
		"call PlantDir":          func(tb testing.TB) { New(tb, "abcdef").Dir(t.TempDir()) },
		"call PlantLog":          func(tb testing.TB) { New(tb, "abcdef").Log(nil) },
		"call PlantRedis":        func(tb testing.TB) { New(tb, "abcdef").Redis(redis.NewClient(&redis.Options{})) },
		"in a log was never sca": func(tb testing.TB) { New(tb, "abcdef").PlantLog(&bytes.Buffer{}) },
	} {
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			f(r)
		}()
		<-done
		for _, c := range r.cleanups {
			c()
		}
		if len(r.failures) != 1 || !strings.Contains(r.failures[0], want) {
			t.Errorf("%s: the test failed with %q", want, r.failures)
		}
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failures []string
	cleanups []func()
}

func (r *recorder) Helper()                   {}
func (r *recorder) Failed() bool              { return len(r.failures) > 0 }
func (r *recorder) Cleanup(f func())          { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(f string, a ...any) { r.failures = append(r.failures, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatal(a ...any) {
	r.failures = append(r.failures, fmt.Sprint(a...))
	runtime.Goexit()
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.failures = append(r.failures, fmt.Sprintf(f, a...))
	runtime.Goexit()
}
