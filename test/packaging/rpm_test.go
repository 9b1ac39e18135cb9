package packaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// rpmPackage is what the tests check in an .rpm, read from its header
// without the rpm tool (which Debian machines seldom have).
type rpmPackage struct {
	Name      string
	Version   string
	Release   string
	Arch      string
	Conflicts []string
	Obsoletes []string
	Files     map[string]rpmFile
	Scripts   map[string]string // "post", "preun", "postun", "pre"
}

// rpmFile is one entry of the payload list.
type rpmFile struct {
	Mode  uint16
	Flags uint32 // RPMFILE_* bits
}

// RPMFILE_* bits of the FILEFLAGS tag (rpm's rpmfiles.h).
const (
	rpmFileConfig    = 1 << 0
	rpmFileNoReplace = 1 << 4
)

// Header tags (rpm's rpmtag.h).
const (
	tagName         = 1000
	tagVersion      = 1001
	tagRelease      = 1002
	tagArch         = 1022
	tagPreIn        = 1023
	tagPostIn       = 1024
	tagPreUn        = 1025
	tagPostUn       = 1026
	tagFileModes    = 1030
	tagFileFlags    = 1037
	tagConflictName = 1054
	tagObsoleteName = 1090
	tagDirIndexes   = 1116
	tagBaseNames    = 1117
	tagDirNames     = 1118
)

// Header value types.
const (
	typeInt16       = 3
	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9
)

// readRPM parses the lead, skips the signature header and decodes the main
// header of the package at file.
func readRPM(file string) (*rpmPackage, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if len(b) < 96 || !bytes.Equal(b[:4], []byte{0xed, 0xab, 0xee, 0xdb}) {
		return nil, fmt.Errorf("%s: not an rpm (bad lead)", file)
	}
	r := bytes.NewReader(b[96:])
	if _, err := readHeader(r, true); err != nil {
		return nil, fmt.Errorf("%s: signature header: %w", file, err)
	}
	h, err := readHeader(r, false)
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", file, err)
	}
	return h.pkg()
}

// header is a decoded rpm header: tag -> value ([]string, []uint32,
// []uint16 or string).
type header map[uint32]any

func readHeader(r *bytes.Reader, pad bool) (header, error) {
	var intro struct {
		Magic    [3]byte
		Version  byte
		Reserved [4]byte
		Count    uint32
		Size     uint32
	}
	if err := binary.Read(r, binary.BigEndian, &intro); err != nil {
		return nil, err
	}
	if intro.Magic != [3]byte{0x8e, 0xad, 0xe8} {
		return nil, errors.New("bad header magic")
	}
	type entry struct{ Tag, Type, Offset, Count uint32 }
	entries := make([]entry, intro.Count)
	if err := binary.Read(r, binary.BigEndian, entries); err != nil {
		return nil, err
	}
	store := make([]byte, intro.Size)
	if _, err := io.ReadFull(r, store); err != nil {
		return nil, err
	}
	if pad { // the signature header is padded to 8 bytes
		if rem := intro.Size % 8; rem != 0 {
			if _, err := r.Seek(int64(8-rem), io.SeekCurrent); err != nil {
				return nil, err
			}
		}
	}
	h := header{}
	for _, e := range entries {
		if e.Offset > uint32(len(store)) {
			return nil, fmt.Errorf("tag %d: offset %d beyond the store", e.Tag, e.Offset)
		}
		data := store[e.Offset:]
		switch e.Type {
		case typeString, typeI18NString, typeStringArray:
			var ss []string
			for i := uint32(0); i < e.Count; i++ {
				end := bytes.IndexByte(data, 0)
				if end < 0 {
					return nil, fmt.Errorf("tag %d: unterminated string", e.Tag)
				}
				ss = append(ss, string(data[:end]))
				data = data[end+1:]
			}
			if e.Type == typeString {
				h[e.Tag] = ss[0]
			} else {
				h[e.Tag] = ss
			}
		case typeInt32:
			v := make([]uint32, e.Count)
			if err := binary.Read(bytes.NewReader(data), binary.BigEndian, v); err != nil {
				return nil, fmt.Errorf("tag %d: %w", e.Tag, err)
			}
			h[e.Tag] = v
		case typeInt16:
			v := make([]uint16, e.Count)
			if err := binary.Read(bytes.NewReader(data), binary.BigEndian, v); err != nil {
				return nil, fmt.Errorf("tag %d: %w", e.Tag, err)
			}
			h[e.Tag] = v
		}
	}
	return h, nil
}

func (h header) str(tag uint32) string {
	s, _ := h[tag].(string)
	return s
}

func (h header) strs(tag uint32) []string {
	s, _ := h[tag].([]string)
	return s
}

func (h header) pkg() (*rpmPackage, error) {
	p := &rpmPackage{
		Name:      h.str(tagName),
		Version:   h.str(tagVersion),
		Release:   h.str(tagRelease),
		Arch:      h.str(tagArch),
		Conflicts: h.strs(tagConflictName),
		Obsoletes: h.strs(tagObsoleteName),
		Files:     map[string]rpmFile{},
		Scripts:   map[string]string{},
	}
	for tag, name := range map[uint32]string{tagPreIn: "pre", tagPostIn: "post", tagPreUn: "preun", tagPostUn: "postun"} {
		if s := h.str(tag); s != "" {
			p.Scripts[name] = s
		}
	}
	base := h.strs(tagBaseNames)
	dirs := h.strs(tagDirNames)
	idx, _ := h[tagDirIndexes].([]uint32)
	modes, _ := h[tagFileModes].([]uint16)
	flags, _ := h[tagFileFlags].([]uint32)
	if len(idx) != len(base) || len(modes) != len(base) || len(flags) != len(base) {
		return nil, fmt.Errorf("file lists disagree: %d names, %d dir indexes, %d modes, %d flags", len(base), len(idx), len(modes), len(flags))
	}
	for i, name := range base {
		if int(idx[i]) >= len(dirs) {
			return nil, fmt.Errorf("file %s: dir index %d out of range", name, idx[i])
		}
		p.Files[path.Join(dirs[idx[i]], name)] = rpmFile{Mode: modes[i], Flags: flags[i]}
	}
	return p, nil
}
