// Package leakcheck finds personal data and secrets where they must never
// be: files in a data directory, captured logs, Redis. Tests give it the
// raw values they used (ID numbers, names, tokens) and it reports every
// place one appears, in clear or in a common encoding (hex, base64,
// base64url, JSON-escaped Unicode).
package leakcheck

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// forms returns the byte strings under which secret may appear.
func forms(secret string) [][]byte {
	quoted := strconv.QuoteToASCII(secret) // "\u5f20\u4e09" for Han names
	out := [][]byte{
		[]byte(secret),
		[]byte(strings.ToLower(hex.EncodeToString([]byte(secret)))),
		[]byte(base64.StdEncoding.EncodeToString([]byte(secret))),
		[]byte(base64.RawURLEncoding.EncodeToString([]byte(secret))),
	}
	if q := quoted[1 : len(quoted)-1]; q != secret {
		out = append(out, []byte(q))
	}
	return out
}

// Find reports which secrets occur in data, in any encoding forms knows.
func Find(data []byte, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, f := range forms(s) {
			if bytes.Contains(data, f) {
				found = append(found, s)
				break
			}
		}
	}
	return found
}

// Dir walks every regular file under dir and returns "path: secret" for
// each secret found. bbolt files and logs are read as raw bytes.
func Dir(dir string, secrets ...string) ([]string, error) {
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range Find(data, secrets...) {
			hits = append(hits, fmt.Sprintf("%s: %s", path, mask(s)))
		}
		return nil
	})
	return hits, err
}

// Redis scans every key and string/hash/list/set value in the database
// client is connected to.
func Redis(ctx context.Context, client *redis.Client, secrets ...string) ([]string, error) {
	var hits []string
	iter := client.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		var blob bytes.Buffer
		blob.WriteString(key)
		blob.WriteByte(0)
		typ, err := client.Type(ctx, key).Result()
		if err != nil {
			return nil, err
		}
		switch typ {
		case "string":
			v, _ := client.Get(ctx, key).Bytes()
			blob.Write(v)
		case "hash":
			m, _ := client.HGetAll(ctx, key).Result()
			for k, v := range m {
				blob.WriteString(k + "\x00" + v + "\x00")
			}
		case "list":
			l, _ := client.LRange(ctx, key, 0, -1).Result()
			blob.WriteString(strings.Join(l, "\x00"))
		case "set":
			l, _ := client.SMembers(ctx, key).Result()
			blob.WriteString(strings.Join(l, "\x00"))
		case "zset":
			l, _ := client.ZRange(ctx, key, 0, -1).Result()
			blob.WriteString(strings.Join(l, "\x00"))
		}
		for _, s := range Find(blob.Bytes(), secrets...) {
			hits = append(hits, fmt.Sprintf("redis key %q: %s", key, mask(s)))
		}
	}
	return hits, iter.Err()
}

// mask keeps a report from repeating the secret it found.
func mask(s string) string {
	r := []rune(s)
	if len(r) <= 4 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:2]) + strings.Repeat("*", len(r)-4) + string(r[len(r)-2:])
}

// FindDelimited reports which secrets occur in data in clear as whole
// tokens: not next to a letter, a digit or a '.'. It is for short secrets
// such as PINs, which otherwise turn up by chance inside unrelated numbers
// (a duration of 1.482916ms, a random hex ID).
func FindDelimited(data []byte, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		for rest, off := data, 0; s != ""; {
			i := bytes.Index(rest, []byte(s))
			if i < 0 {
				break
			}
			start, end := off+i, off+i+len(s)
			if !tokenByte(data, start-1) && !tokenByte(data, end) {
				found = append(found, s)
				break
			}
			rest, off = data[start+1:], start+1
		}
	}
	return found
}

func tokenByte(data []byte, i int) bool {
	if i < 0 || i >= len(data) {
		return false
	}
	c := data[i]
	return c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
