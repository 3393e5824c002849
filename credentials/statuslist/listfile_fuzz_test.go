package statuslist

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
)

// FuzzListFiles: a list file and the index lines read back from the
// data directory, whatever their bytes, are refused (a list as
// ErrCorrupted), or give a list that answers for every entry, and index
// records whose entries are looked up without panicking; both, written
// again as the store writes them, read back as they were.
func FuzzListFiles(f *testing.F) {
	ctx := context.Background()
	// Seeds: the files the store itself writes, for each purpose, of a
	// list of 64 entries (the fuzzer minimizes what it finds; a list of
	// the store's size is tens of kilobytes).
	const id = "00000001aaaaaaaa"
	for _, p := range Purposes {
		dir := f.TempDir()
		s, err := OpenFileStore(dir, FileStoreOptions{})
		if err != nil {
			f.Fatal(err)
		}
		l := &list{id: id, purpose: p, created: time.Unix(1e9, 0).UTC(), version: 1, allocated: make([]byte, 8)}
		if p == status.PurposeToken {
			l.token, _ = status.TokenListFromBytes(TokenBits, make([]byte, 64*TokenBits/8))
		} else {
			l.bits = status.BitstringFromBytes(make([]byte, 8))
		}
		s.lists[id], s.order = l, []string{id}
		lid, x, err := s.Allocate(ctx, p)
		if err != nil || lid != id {
			f.Fatal(lid, err)
		}
		if err := s.Set(ctx, lid, x, 1); err != nil {
			f.Fatal(err)
		}
		if err := s.BindOwner(ctx, "urn:uuid:1", "owner", []status.Ref{{ListID: lid, Index: x, Purpose: p}}); err != nil {
			f.Fatal(err)
		}
		if err := s.write(l); err != nil {
			f.Fatal(err)
		}
		list, err := os.ReadFile(filepath.Join(dir, id+".json"))
		if err != nil {
			f.Fatal(err)
		}
		index, err := os.ReadFile(filepath.Join(dir, indexFile))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(list, index)
		f.Add(list, index[:len(index)-1])
		f.Add(bytes.Replace(list, []byte(`"size":`), []byte(`"size":8,"x":`), 1),
			[]byte(`{"key":"`+strings.Repeat("a", 64)+`","refs":[{"list":"`+id+`","index":-1,"purpose":"x"}]}`+"\n"))
	}
	f.Fuzz(func(t *testing.T, file, index []byte) {
		l, err := parseList(id+".json", file)
		if err != nil {
			if !errors.Is(err, ErrCorrupted) {
				t.Fatalf("error %v is not ErrCorrupted", err)
			}
		} else {
			checkList(t, l)
		}
		s := &FileStore{lists: map[string]*list{}}
		if l != nil {
			s.lists[id] = l
		}
		for line := range bytes.Lines(index) {
			rec, err := parseIndexLine(line)
			if err != nil {
				continue
			}
			s.allocated(rec.Refs)
			// A record as BindOwner writes it reads back as it was.
			out, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := parseIndexLine(append(out, '\n')); err != nil || !reflect.DeepEqual(again, rec) {
				t.Fatalf("index record %s read back as %+v, %v", out, again, err)
			}
		}
	})
}

// checkList checks a list read from its file: every entry answers, its
// count is its marked entries, and its file as the store writes it
// reads back as the same list.
func checkList(t *testing.T, l *list) {
	s := &FileStore{lists: map[string]*list{l.id: l}}
	ctx := context.Background()
	n := 0
	for i := range l.size() {
		if _, _, err := s.Get(ctx, l.id, i); err != nil {
			t.Fatalf("entry %d of %d: %v", i, l.size(), err)
		}
		if l.isAllocated(i) {
			n++
		}
	}
	if n != l.count {
		t.Fatalf("count %d, %d marked", l.count, n)
	}
	if _, err := s.Snapshot(ctx, l.id); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(l.disk())
	if err != nil {
		t.Fatal(err)
	}
	again, err := parseList(l.id+".json", out)
	if err != nil {
		t.Fatalf("the store does not read what it writes: %v", err)
	}
	if !reflect.DeepEqual(again.disk(), l.disk()) || again.count != l.count {
		t.Fatalf("read back %+v, was %+v", again.disk(), l.disk())
	}
}
