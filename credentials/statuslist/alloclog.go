package statuslist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Allocation log. An allocation in a list that already exists is not a
// rewrite of the list's file: it is appended to the store's one
// allocation log (allocLogName), the allocations of one group, of every
// list and purpose, in one record, one write and one fsync, before they
// are acknowledged. A list's allocated entries are those its file
// records plus those the log records for it.
//
// A record is a 4-byte big-endian payload length, the CRC-32C of the
// payload (4 bytes, big-endian) and the payload: for each list the group
// allocated in, the length of the list ID (1 byte), the ID, the number of
// indices (4 bytes) and the indices (4 bytes each, big-endian).
//
// A crash during an append leaves at most a torn last record (short, its
// length past the end, its checksum wrong with nothing after it, or a
// zero-filled tail): never acknowledged, it is cut off when the store is
// opened. A complete record of an append that was never acknowledged
// only marks more entries allocated, so no index is ever handed out
// twice. Anything else that does not read back is corruption.
//
// When the log outgrows allocLogLimit, the next group first writes every
// list the log names (each file then holds its allocations) and empties
// the log.
//
// Stores written before this log kept one log per list (<list ID>.alloc,
// 4-byte indices); OpenFileStore folds such a log into its list's file
// and removes it.
const (
	allocLogName      = "allocations.log"
	legacyAllocSuffix = ".alloc"
	allocLogLimit     = 4 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// readAllocLog marks the allocations the store's log records and cuts a
// torn last record off the file.
func (s *FileStore) readAllocLog() error {
	path := filepath.Join(s.dir, allocLogName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	good, err := s.applyAllocLog(data)
	if err != nil {
		return err
	}
	s.logSize = int64(good)
	if good < len(data) {
		if err := cutFile(path, int64(good)); err != nil {
			return fmt.Errorf("statuslist: cutting a torn allocation record: %w", err)
		}
	}
	return nil
}

// applyAllocLog marks the allocations of data's records and returns the
// length of its whole records (the rest is a torn last record).
func (s *FileStore) applyAllocLog(data []byte) (int, error) {
	corrupt := func(off int, why string) error {
		return fmt.Errorf("%s: %w: %s at offset %d", allocLogName, ErrCorrupted, why, off)
	}
	off := 0
	for off < len(data) {
		rest := data[off:]
		if len(rest) < 8 {
			return off, nil
		}
		n := int(binary.BigEndian.Uint32(rest))
		if n == 0 {
			if bytes.Count(rest, []byte{0}) == len(rest) {
				return off, nil // a zero-filled tail
			}
			return 0, corrupt(off, "empty record")
		}
		if n > len(rest)-8 {
			// A torn append leaves a prefix of one record, so its length
			// is one the store could write and no whole record follows
			// it; otherwise the length itself is damaged, and cutting
			// here would free acknowledged allocations.
			if n > s.maxAllocRecord() || wholeRecordAfter(rest[8:]) {
				return 0, corrupt(off, "record length past the end")
			}
			return off, nil
		}
		payload := rest[8 : 8+n]
		if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(rest[4:]) {
			if 8+n == len(rest) {
				return off, nil
			}
			return 0, corrupt(off, "checksum mismatch")
		}
		for p := payload; len(p) > 0; {
			idLen := int(p[0])
			if len(p) < 1+idLen+4 {
				return 0, corrupt(off, "short record")
			}
			id := string(p[1 : 1+idLen])
			count := int(binary.BigEndian.Uint32(p[1+idLen:]))
			p = p[1+idLen+4:]
			if count > len(p)/4 {
				return 0, corrupt(off, "short record")
			}
			l := s.lists[id]
			if l == nil {
				return 0, corrupt(off, "unknown list")
			}
			for k := range count {
				i := int(binary.BigEndian.Uint32(p[4*k:]))
				if i >= l.size() {
					return 0, corrupt(off, "index out of range")
				}
				l.markAllocated(i)
			}
			p = p[4*count:]
			s.logLists[id] = true
		}
		off += 8 + n
	}
	return off, nil
}

// maxAllocRecord is the longest payload a record of this store can have:
// every list, every index.
func (s *FileStore) maxAllocRecord() int {
	n := 0
	for id, l := range s.lists {
		n += 1 + len(id) + 4 + 4*l.size()
	}
	return n
}

// wholeRecordAfter reports whether a complete record with a matching
// checksum starts anywhere in data. Only a damaged log reaches it.
func wholeRecordAfter(data []byte) bool {
	for j := 0; j+8 < len(data); j++ {
		n := int(binary.BigEndian.Uint32(data[j:]))
		if n == 0 || n > len(data)-j-8 {
			continue
		}
		if crc32.Checksum(data[j+8:j+8+n], crcTable) == binary.BigEndian.Uint32(data[j+4:]) {
			return true
		}
	}
	return false
}

// markAllocated marks entry i allocated.
func (l *list) markAllocated(i int) {
	if !l.isAllocated(i) {
		l.allocated[i>>3] |= 0x80 >> (i & 7)
		l.count++
	}
}

// cutFile truncates the file at path to size and syncs it.
func cutFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

// appendAllocs appends one record of the group's allocations (fresh:
// existing lists -> indices) to the log in one write and one fsync. The
// log stays open between groups; after a failure commit closes it, and
// the next group opens it again and cuts it back to its last acknowledged
// end (logSize) before appending. Only the committing goroutine calls it.
func (s *FileStore) appendAllocs(fresh map[*list][]int) error {
	if len(fresh) == 0 {
		return nil
	}
	lists := make([]*list, 0, len(fresh))
	for l := range fresh {
		lists = append(lists, l)
	}
	slices.SortFunc(lists, func(a, b *list) int { return strings.Compare(a.id, b.id) })
	buf := append(s.logBuf[:0], make([]byte, 8)...)
	for _, l := range lists {
		buf = append(buf, byte(len(l.id)))
		buf = append(buf, l.id...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(fresh[l])))
		for _, i := range fresh[l] {
			buf = binary.BigEndian.AppendUint32(buf, uint32(i))
		}
	}
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-8))
	binary.BigEndian.PutUint32(buf[4:], crc32.Checksum(buf[8:], crcTable))
	s.logBuf = buf
	f, err := s.openLog()
	if err == nil {
		if _, err = f.Write(buf); err == nil {
			err = f.Sync()
		}
	}
	if err != nil {
		return fmt.Errorf("statuslist: allocation log: %w", err)
	}
	s.logSize += int64(len(buf))
	for _, l := range lists {
		s.logLists[l.id] = true
	}
	return nil
}

// openLog returns the open allocation log if it is still the file at
// its name (a directory moved away or replaced under the store fails
// closed), else opens it by name: cut back to logSize (a failed append's
// bytes), the directory synced so that a new log survives a crash. A
// file shorter than what was acknowledged is not the store's log.
func (s *FileStore) openLog() (*os.File, error) {
	path := filepath.Join(s.dir, allocLogName)
	if s.logFile != nil {
		if fi, err := os.Stat(path); err == nil && os.SameFile(fi, s.logStat) {
			return s.logFile, nil
		}
		s.closeLog()
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
	case fi.Size() < s.logSize:
		err = fmt.Errorf("%w: %s is shorter than what was acknowledged", ErrCorrupted, allocLogName)
	case fi.Size() > s.logSize:
		err = f.Truncate(s.logSize)
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	s.logFile, s.logStat = f, fi
	return f, nil
}

// closeLog closes the allocation log; the next append opens it again.
func (s *FileStore) closeLog() {
	if s.logFile != nil {
		s.logFile.Close()
		s.logFile = nil
	}
}

// compactAllocLog, once the log outgrows allocLogLimit, writes every list
// it names (their files then hold those allocations) and empties it. A
// crash in between leaves records that only repeat what the files hold.
func (s *FileStore) compactAllocLog() error {
	if s.logSize <= s.logLimit {
		return nil
	}
	for id := range s.logLists {
		if err := s.write(s.lists[id]); err != nil {
			return err
		}
	}
	f, err := s.openLog()
	if err == nil {
		if err = f.Truncate(0); err == nil {
			err = f.Sync()
		}
	}
	if err != nil {
		return fmt.Errorf("statuslist: allocation log: %w", err)
	}
	s.logSize = 0
	clear(s.logLists)
	return nil
}

// foldLegacyAllocLog folds l's per-list allocation log of the earlier
// format (<list ID>.alloc), if any, into l's file and removes it (the
// directory is synced by the caller). Its torn last record (a length not
// a multiple of 4, or an index out of range) is dropped; an out-of-range
// index before the last is corruption. A crash before the removal leaves
// a log that repeats what the file holds.
func (s *FileStore) foldLegacyAllocLog(l *list) (bool, error) {
	path := filepath.Join(s.dir, l.id+legacyAllocSuffix)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("statuslist: %w", err)
	}
	good := len(data) - len(data)%4
	for off := 0; off < good; off += 4 {
		i := int(binary.BigEndian.Uint32(data[off:]))
		if i >= l.size() {
			if off+4 == good { // the torn last record
				break
			}
			return false, fmt.Errorf("%s%s: %w: index out of range at offset %d", l.id, legacyAllocSuffix, ErrCorrupted, off)
		}
		l.markAllocated(i)
	}
	if err := s.write(l); err != nil {
		return false, err
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("statuslist: %w", err)
	}
	return true, nil
}

// syncDir fsyncs directory dir.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
