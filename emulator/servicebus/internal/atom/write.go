package atom

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"time"
)

// Elem is an element to render: text, or child elements, or neither.
// Attrs are written as given (name, value), prefixes included.
type Elem struct {
	Name  string
	Attrs [][2]string
	Text  string
	Kids  []Elem
}

// Text returns a text element.
func Text(name, text string) Elem { return Elem{Name: name, Text: text} }

// Bool returns a boolean element ("true"/"false").
func Bool(name string, v bool) Elem { return Text(name, strconv.FormatBool(v)) }

// Int returns an integer element.
func Int(name string, v int64) Elem { return Text(name, strconv.FormatInt(v, 10)) }

// Time returns a timestamp element in UTC, RFC 3339 with fractional
// seconds; the zero time is 0001-01-01T00:00:00Z.
func Time(name string, t time.Time) Elem { return Text(name, FormatTime(t)) }

// Duration returns an xs:duration element (see FormatDuration).
func Duration(name string, d time.Duration) Elem { return Text(name, FormatDuration(d)) }

// FormatTime formats t as the service does.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// MaxTimeSpan is .NET's TimeSpan.MaxValue as xs:duration: what the service
// reports for "never" (AutoDeleteOnIdle, DefaultMessageTimeToLive).
const MaxTimeSpan = "P10675199DT2H48M5.4775807S"

// FormatDuration writes d as an xs:duration with days, hours, minutes and
// seconds ("PT1M", "P14D", "PT0.5S"); the largest Go duration, which
// stands for "never", is written as MaxTimeSpan.
func FormatDuration(d time.Duration) string {
	if d == time.Duration(1<<63-1) {
		return MaxTimeSpan
	}
	if d <= 0 {
		return "PT0S"
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	var b bytes.Buffer
	b.WriteByte('P')
	if days > 0 {
		fmt.Fprintf(&b, "%dD", days)
	}
	if h > 0 || m > 0 || d > 0 {
		b.WriteByte('T')
		if h > 0 {
			fmt.Fprintf(&b, "%dH", h)
		}
		if m > 0 {
			fmt.Fprintf(&b, "%dM", m)
		}
		if d > 0 {
			s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
			b.WriteString(s + "S")
		}
	}
	return b.String()
}

func (e Elem) write(b *bytes.Buffer) {
	b.WriteByte('<')
	b.WriteString(e.Name)
	for _, a := range e.Attrs {
		b.WriteByte(' ')
		b.WriteString(a[0])
		b.WriteString(`="`)
		_ = xml.EscapeText(b, []byte(a[1]))
		b.WriteByte('"')
	}
	if e.Text == "" && len(e.Kids) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	_ = xml.EscapeText(b, []byte(e.Text))
	for _, k := range e.Kids {
		k.write(b)
	}
	b.WriteString("</")
	b.WriteString(e.Name)
	b.WriteByte('>')
}

// Desc wraps fields in a description element (QueueDescription,
// ...) with the connect and instance namespaces.
func Desc(kind string, fields ...Elem) Elem {
	return Elem{Name: kind, Attrs: [][2]string{{"xmlns", NSConnect}, {"xmlns:i", NSInstance}}, Kids: fields}
}

// CountDetails renders the message counts in the order the service uses.
func CountDetails(active, deadLetter, scheduled, transfer, transferDeadLetter int64) Elem {
	c := func(name string, v int64) Elem { return Int("d2p1:"+name, v) }
	return Elem{Name: "CountDetails", Attrs: [][2]string{{"xmlns:d2p1", NSCounts}}, Kids: []Elem{
		c("ActiveMessageCount", active), c("DeadLetterMessageCount", deadLetter), c("ScheduledMessageCount", scheduled),
		c("TransferMessageCount", transfer), c("TransferDeadLetterMessageCount", transferDeadLetter),
	}}
}

// Params renders key/value pairs (correlation properties, SQL parameters)
// with their XML Schema types.
func Params(name string, ps []Param) Elem {
	e := Elem{Name: name}
	for _, p := range ps {
		e.Kids = append(e.Kids, Elem{Name: "KeyValueOfstringanyType", Kids: []Elem{
			Text("Key", p.Key),
			{Name: "Value", Attrs: [][2]string{{"i:type", "d6p1:" + p.Type}, {"xmlns:d6p1", NSSchema}}, Text: p.Value},
		}})
	}
	return e
}

// EntryMeta is the ATOM envelope of one entity.
type EntryMeta struct {
	// ID is the entity's URL (with api-version), also the self link; the
	// JavaScript SDK takes entity names from its path.
	ID string
	// Title is the entity's own name (the Go SDK takes names from it).
	Title     string
	Published time.Time
	Updated   time.Time
	// Author is the namespace name.
	Author string
}

func entry(m EntryMeta, content Elem, base string) Elem {
	e := Elem{Name: "entry", Attrs: [][2]string{{"xmlns", NSAtom}}}
	if base != "" {
		e.Attrs = append(e.Attrs, [2]string{"xml:base", base})
	}
	e.Kids = []Elem{
		Text("id", m.ID),
		{Name: "title", Attrs: [][2]string{{"type", "text"}}, Text: m.Title},
		Time("published", m.Published),
		Time("updated", m.Updated),
		{Name: "author", Kids: []Elem{Text("name", m.Author)}},
		{Name: "link", Attrs: [][2]string{{"rel", "self"}, {"href", m.ID}}},
		{Name: "content", Attrs: [][2]string{{"type", "application/xml"}}, Kids: []Elem{content}},
	}
	return e
}

// Entry renders one entity as an ATOM entry document.
func Entry(m EntryMeta, content Elem) []byte {
	var b bytes.Buffer
	entry(m, content, "").write(&b)
	return b.Bytes()
}

// Item is one entry of a feed.
type Item struct {
	Meta    EntryMeta
	Content Elem
}

// Feed renders a list of entities. next, when not "", is the URL of the
// next page (rel="next"), from which the JavaScript SDK takes $skip.
func Feed(title, self, next string, updated time.Time, items []Item) []byte {
	f := Elem{Name: "feed", Attrs: [][2]string{{"xmlns", NSAtom}}, Kids: []Elem{
		{Name: "title", Attrs: [][2]string{{"type", "text"}}, Text: title},
		Text("id", self),
		Time("updated", updated),
		{Name: "link", Attrs: [][2]string{{"rel", "self"}, {"href", self}}},
	}}
	if next != "" {
		f.Kids = append(f.Kids, Elem{Name: "link", Attrs: [][2]string{{"rel", "next"}, {"href", next}}})
	}
	for _, it := range items {
		f.Kids = append(f.Kids, entry(it.Meta, it.Content, self))
	}
	var b bytes.Buffer
	f.write(&b)
	return b.Bytes()
}

// NotFoundFeed is what the service answers a GET of a missing entity
// with: 200 and an empty feed with this title, which both SDKs read as
// "not found".
func NotFoundFeed(id string, updated time.Time) []byte {
	f := Elem{Name: "feed", Attrs: [][2]string{{"xmlns", NSAtom}}, Kids: []Elem{
		{Name: "title", Attrs: [][2]string{{"type", "text"}}, Text: "Publicly Listed Services"},
		{Name: "subtitle", Attrs: [][2]string{{"type", "text"}}, Text: "This is the list of publicly-listed services currently available."},
		Text("id", id),
		Time("updated", updated),
		Text("generator", "Service Bus 1.1"),
	}}
	var b bytes.Buffer
	f.write(&b)
	return b.Bytes()
}

// Error renders the service's error body.
func Error(code int, detail string) []byte {
	var b bytes.Buffer
	Elem{Name: "Error", Kids: []Elem{Int("Code", int64(code)), Text("Detail", detail)}}.write(&b)
	return b.Bytes()
}
