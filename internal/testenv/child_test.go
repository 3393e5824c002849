package testenv

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// TestKillChild: KillChild hands over only the "acked " lines, in order,
// stops when told, and kills a child that would never end by itself.
func TestKillChild(t *testing.T) {
	if IsChild() {
		t.Skip("child")
	}
	var got []int
	KillChild(t, "TestKillChildChild", []string{"TESTENV_FROM=7"}, func(v string) bool {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("child said %q", "acked "+v)
		}
		got = append(got, n)
		return len(got) < 100
	})
	if len(got) != 100 {
		t.Fatalf("%d acks, want 100", len(got))
	}
	for i, n := range got {
		if n != 7+i {
			t.Fatalf("ack %d is %d, want %d", i, n, 7+i)
		}
	}
}

// TestKillChildChild is the child of TestKillChild: it prints acks from
// TESTENV_FROM, each after a line KillChild must skip, until killed.
func TestKillChildChild(t *testing.T) {
	if !IsChild() {
		t.Skip("run by TestKillChild")
	}
	from, _ := strconv.Atoi(os.Getenv("TESTENV_FROM"))
	for i := from; ; i++ {
		fmt.Printf("noise %d\nacked %d\n", i, i)
	}
}
