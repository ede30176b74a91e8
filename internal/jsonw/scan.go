package jsonw

import "bytes"

// Members calls member with the name and value text of each member of the
// JSON object raw, in order, until it returns false. raw must be valid JSON
// (json.Valid). The name is given as written between its quotes; a name
// holding an escape is not decoded: Members returns false, as it does when
// raw is not an object or member returns false.
func Members(raw []byte, member func(key, value []byte) bool) bool {
	s := scanner{b: raw}
	return s.object(member)
}

// Elements calls element with the text of each element of the JSON array
// raw, in order, until it returns false. raw must be valid JSON. It is false
// when raw is not an array or element returns false.
func Elements(raw []byte, element func(value []byte) bool) bool {
	s := scanner{b: raw}
	s.space()
	if s.peek() != '[' {
		return false
	}
	s.i++
	for {
		s.space()
		switch s.peek() {
		case ']':
			return true
		case ',':
			s.i++
			s.space()
		}
		v := s.i
		s.skipValue()
		if !element(s.b[v:s.i]) {
			return false
		}
	}
}

// scanner walks JSON text that json.Valid accepted.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) object(member func(key, raw []byte) bool) bool {
	s.space()
	if s.peek() != '{' {
		return false
	}
	s.i++
	for {
		s.space()
		switch s.peek() {
		case '}':
			s.i++
			return true
		case ',':
			s.i++
			s.space()
		}
		start := s.i + 1
		s.skipString()
		key := s.b[start : s.i-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		s.space()
		s.i++ // ':'
		s.space()
		v := s.i
		s.skipValue()
		if !member(key, s.b[v:s.i]) {
			return false
		}
	}
}

// skipString moves past the string at the cursor.
func (s *scanner) skipString() {
	s.i++
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return
		default:
			s.i++
		}
	}
}

// skipValue moves past the value at the cursor.
func (s *scanner) skipValue() {
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			s.skipString()
			if depth == 0 {
				return
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return // the enclosing object's end
			}
			depth--
			if depth == 0 {
				s.i++
				return
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return
			}
		}
		s.i++
	}
}

// UnquoteASCII decodes raw when it is exactly one JSON string of printable
// ASCII with no escapes but \" \\ \/ \b \f \n \r \t.
func UnquoteASCII[S ~[]byte | ~string](raw S) (string, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false
	}
	in := raw[1 : n-1]
	esc := false
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c < 0x20 || c >= 0x80 || c == '"' {
			return "", false
		}
		if c == '\\' {
			esc = true
			i++
			if i == len(in) || unescape(in[i]) == 0 {
				return "", false
			}
		}
	}
	if !esc {
		return string(in), true
	}
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '\\' {
			i++
			c = unescape(in[i])
		}
		out = append(out, c)
	}
	return string(out), true
}

// unescape is the byte a one-letter JSON escape stands for, 0 for others.
func unescape(c byte) byte {
	switch c {
	case '"', '\\', '/':
		return c
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return 0
}
