package filelock

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testenv"
)

// increment does a read-modify-write of a counter file under the lock,
// sleeping between the read and the write so that an unlocked version
// loses updates.
func increment(t testing.TB, path string) {
	unlock, err := Lock(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	time.Sleep(50 * time.Microsecond)
	if err := os.WriteFile(path, []byte(strconv.Itoa(n+1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLockGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counter")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				increment(t, path)
			}
		}()
	}
	wg.Wait()
	if got, _ := os.ReadFile(path); string(got) != "200" {
		t.Fatalf("counter %s, want 200", got)
	}
}

// TestLockProcesses runs the same increments from two child processes at
// once.
func TestLockProcesses(t *testing.T) {
	if path := os.Getenv("FILELOCK_CHILD"); path != "" {
		for range 100 {
			increment(t, path)
		}
		return
	}
	exe, err := os.Executable()
	testenv.Require(t, "the test executable's path (to start child processes)", err)
	path := filepath.Join(t.TempDir(), "counter")
	var cmds []*exec.Cmd
	for range 2 {
		c := exec.Command(exe, "-test.run=^TestLockProcesses$", "-test.count=1")
		c.Env = append(os.Environ(), "FILELOCK_CHILD="+path)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for range 100 {
		increment(t, path)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(path); string(got) != "300" {
		t.Fatalf("counter %s, want 300", got)
	}
}

// TestTryLock: a second open of the lock file in this process is refused
// with ErrLocked after its wait, and gets the lock once it is released.
func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.lock")
	unlock, err := TryLock(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := TryLock(path, 60*time.Millisecond); err != ErrLocked {
		t.Fatalf("second TryLock = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("gave up after %v, before its wait", d)
	}
	go func() { time.Sleep(30 * time.Millisecond); unlock() }()
	again, err := TryLock(path, 5*time.Second)
	if err != nil {
		t.Fatalf("TryLock while the holder releases: %v", err)
	}
	again()
}
