package config

import (
	"bytes"
	"fmt"
)

// stripComments replaces // line comments and /* block */ comments outside
// JSON strings with spaces (keeping newlines), so that JSON error offsets
// still point at the right line and column. The official emulator accepts
// such comments in Config.json and its sample has them.
func stripComments(src []byte) ([]byte, error) {
	out := bytes.Clone(src)
	inString, escaped := false, false
	for i := 0; i < len(out); i++ {
		c := out[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			for ; i < len(out) && out[i] != '\n'; i++ {
				out[i] = ' '
			}
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			start := i
			out[i], out[i+1] = ' ', ' '
			i += 2
			for ; i < len(out); i++ {
				if out[i] == '*' && i+1 < len(out) && out[i+1] == '/' {
					out[i], out[i+1] = ' ', ' '
					i++
					break
				}
				if out[i] != '\n' {
					out[i] = ' '
				}
			}
			if i >= len(out) {
				line, col := position(src, start)
				return nil, fmt.Errorf("line %d, column %d: unterminated /* comment: %w", line, col, ErrSyntax)
			}
		}
	}
	return out, nil
}

// position converts a byte offset into a 1-based line and column.
func position(src []byte, off int) (line, col int) {
	off = min(max(off, 0), len(src))
	line = 1 + bytes.Count(src[:off], []byte{'\n'})
	col = off - bytes.LastIndexByte(src[:off], '\n')
	return line, col
}
