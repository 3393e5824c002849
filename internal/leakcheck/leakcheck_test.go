package leakcheck

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustid-cn/trustid/internal/testredis"
)

func TestFindEncodings(t *testing.T) {
	secret := "11010519491231002X"
	for name, data := range map[string]string{
		"clear":  "x" + secret + "y",
		"base64": base64.StdEncoding.EncodeToString([]byte(secret)),
		"hex":    "ab" + hex.EncodeToString([]byte(secret)),
	} {
		if got := Find([]byte(data), secret); len(got) != 1 {
			t.Errorf("%s: not found", name)
		}
	}
	if got := Find([]byte(`{"name":"\u5f20\u4e09"}`), "张三"); len(got) != 1 {
		t.Error("JSON-escaped name not found")
	}
	if got := Find([]byte("3101**********002X"), secret); len(got) != 0 {
		t.Error("masked form reported as a leak")
	}
}

func TestDirAndRedis(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.log"), []byte("ok"), 0o600)
	os.WriteFile(filepath.Join(dir, "b.db"), []byte("..张三.."), 0o600)
	hits, err := Dir(dir, "张三", "11010519491231002X")
	if err != nil || len(hits) != 1 {
		t.Fatalf("Dir: %v %v", hits, err)
	}
	c := testredis.StartClient(t)
	ctx := context.Background()
	c.Set(ctx, "k1", "harmless", 0)
	if hits, err := Redis(ctx, c, "11010519491231002X"); err != nil || len(hits) != 0 {
		t.Fatalf("clean Redis: %v %v", hits, err)
	}
	c.HSet(ctx, "k2", "f", "11010519491231002X")
	if hits, err := Redis(ctx, c, "11010519491231002X"); err != nil || len(hits) != 1 {
		t.Fatalf("Redis: %v %v", hits, err)
	}
}

func TestFindDelimited(t *testing.T) {
	for data, want := range map[string]int{
		`pin=482916 ok`:         1,
		`{"pin":"482916"}`:      1,
		`duration=1.482916ms`:   0,
		`"duration":1482916`:    0,
		`request_id=ab482916cd`: 0,
		`x 1482916 y 482916`:    1,
		`482916`:                1,
	} {
		if got := FindDelimited([]byte(data), "482916"); len(got) != want {
			t.Errorf("%s: found %v, want %d", data, got, want)
		}
	}
}
