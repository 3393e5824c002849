package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/keystore"
)

// FuzzWalletFile: a --wallet file of any bytes is refused with an error
// naming the file, or gives a wallet that, saved as `qr show` saves it
// (its counter moved on), reads back the same.
func FuzzWalletFile(f *testing.F) {
	dir := f.TempDir()
	kek, err := keystore.ParseKEK(testKEK)
	if err != nil {
		f.Fatal(err)
	}
	ks, err := keystore.Open(filepath.Join(dir, keystoreFile), kek, keystore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	// Seeds: the wallets --demo and `wallet enroll` write.
	demo, err := newDemoWallet(ks, "310000", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	enrolled := &wallet{Region: demo.Region, DeviceKey: demo.DeviceKey, Binding: demo.Binding, Counter: 7}
	for _, w := range []*wallet{demo, enrolled} {
		path := filepath.Join(dir, "seed.json")
		if err := w.save(path); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"demo":true,"binding":"!!","counter":-1}`))
	f.Add([]byte(`{"region":"310000","region":"320000","REGION":"x"} {}`))
	f.Add([]byte(`{"counter":18446744073709551615,"extra":1}`))
	f.Add([]byte(`null`))
	path := filepath.Join(dir, "wallet.json")
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := readWallet(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "wallet "+path+": ") {
				t.Fatalf("refusal %q does not name the file", err)
			}
			return
		}
		w.Counter++
		if err := w.save(path); err != nil {
			t.Fatal(err)
		}
		again, err := readWallet(path)
		if err != nil || !reflect.DeepEqual(w, again) {
			t.Fatalf("saved again: %+v, %v; was %+v", again, err, w)
		}
	})
}
