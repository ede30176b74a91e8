package atom

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// corpus returns the body of a seed corpus entry: request bodies the Go and JavaScript SDKs sent.
func corpus(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParse", name))
	if err != nil {
		t.Fatal(err)
	}
	_, lit, ok := bytes.Cut(raw, []byte("[]byte("))
	if !ok {
		t.Fatalf("%s is not a fuzz corpus file", name)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(string(lit)), ")"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

func TestParseSDKBodies(t *testing.T) {
	t.Parallel()
	for _, sdk := range []string{"go", "js"} {
		t.Run(sdk, func(t *testing.T) {
			t.Parallel()
			q, err := Parse(corpus(t, sdk+"-QueueDescription"))
			if err != nil || q.Kind != "QueueDescription" || q.Fields["LockDuration"] == "" {
				t.Errorf("queue: %+v, %v", q, err)
			}
			s, err := Parse(corpus(t, sdk+"-SubscriptionDescription-rulecorr"))
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind != "SubscriptionDescription" || s.Rule == nil || s.Rule.Name != "only-red" ||
				s.Rule.Filter == nil || s.Rule.Filter.Type != "CorrelationFilter" {
				t.Fatalf("subscription with default rule: %+v / %+v", s, s.Rule)
			}
			if _, ok := s.Fields["DefaultRuleDescription"]; ok {
				t.Error("DefaultRuleDescription listed as a simple field")
			}
			if p := s.Rule.Filter.Properties; len(p) == 0 || p[0] != (Param{Key: "color", Type: "string", Value: "red"}) {
				t.Errorf("correlation properties = %+v", p)
			}
			r, err := Parse(corpus(t, sdk+"-RuleDescription-action"))
			if err != nil {
				t.Fatal(err)
			}
			if r.Rule.Name != "big" || r.Rule.Filter.Type != "SqlFilter" || r.Rule.Filter.Fields["SqlExpression"] != "size > 10" ||
				r.Rule.Action == nil || r.Rule.Action.Type != "SqlRuleAction" || r.Rule.Action.SQLExpression != "SET big = TRUE" {
				t.Errorf("rule = %+v filter %+v action %+v", r.Rule, r.Rule.Filter, r.Rule.Action)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1)
	many := "<entry><content><QueueDescription>" + strings.Repeat("<X/>", MaxElements) + "</QueueDescription></content></entry>"
	for name, body := range map[string]string{
		"not xml":        "{}",
		"empty":          "",
		"wrong root":     "<feed/>",
		"no content":     "<entry><title/></entry>",
		"two children":   "<entry><content><QueueDescription/><TopicDescription/></content></entry>",
		"unknown kind":   "<entry><content><NamespaceInfo/></content></entry>",
		"too deep":       deep,
		"too many":       many,
		"unclosed":       "<entry><content><QueueDescription>",
		"two roots":      "<entry/><entry/>",
		"text outside":   "x<entry/>",
		"bad param":      `<entry><content><RuleDescription><Filter><Properties><Other/></Properties></Filter></RuleDescription></content></entry>`,
		"param no value": `<entry><content><RuleDescription><Filter><Properties><KeyValueOfstringanyType><Key>k</Key></KeyValueOfstringanyType></Properties></Filter></RuleDescription></content></entry>`,
		"entity":         `<!DOCTYPE entry [<!ENTITY x "boom">]><entry><content><QueueDescription><UserMetadata>&x;</UserMetadata></QueueDescription></content></entry>`,
	} {
		if d, err := Parse([]byte(body)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: Parse = %+v, %v; want ErrSyntax", name, d, err)
		}
	}
}

// TestParseBoundsNesting: a megabyte of open tags is refused at MaxDepth, without building a tree.
func TestParseBoundsNesting(t *testing.T) { // not parallel: it measures allocation
	body := bytes.Repeat([]byte("<a>"), 1<<20/3)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Parse(body); !errors.Is(err, ErrSyntax) {
		t.Fatalf("Parse = %v, want ErrSyntax", err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("parsing %d bytes of nesting allocated %d bytes", len(body), grew)
	}
}

func TestParseNil(t *testing.T) {
	t.Parallel()
	d, err := Parse([]byte(`<entry><content><QueueDescription xmlns:i="` + NSInstance + `"><ForwardTo i:nil="true"/><LockDuration>PT1M</LockDuration></QueueDescription></content></entry>`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Fields["ForwardTo"]; ok || d.Fields["LockDuration"] != "PT1M" {
		t.Errorf("fields = %v", d.Fields)
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "PT0S", time.Minute: "PT1M", 30 * time.Second: "PT30S", 14 * 24 * time.Hour: "P14D",
		26*time.Hour + 500*time.Millisecond: "P1DT2H0.5S", time.Hour + 2*time.Minute: "PT1H2M",
		time.Duration(1<<63 - 1): MaxTimeSpan,
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestWriters(t *testing.T) {
	t.Parallel()
	meta := EntryMeta{ID: "https://h/q?api-version=2021-05", Title: "q<&>", Author: "h"}
	out := string(Entry(meta, Desc("QueueDescription", CountDetails(1, 2, 3, 4, 5), Text("UserMetadata", `a"b<c`))))
	for _, want := range []string{
		`<entry xmlns="http://www.w3.org/2005/Atom">`,
		`<title type="text">q&lt;&amp;&gt;</title>`,
		`<link rel="self" href="https://h/q?api-version=2021-05"/>`,
		`<QueueDescription xmlns="` + NSConnect + `" xmlns:i="` + NSInstance + `">`,
		`<CountDetails xmlns:d2p1="` + NSCounts + `"><d2p1:ActiveMessageCount>1</d2p1:ActiveMessageCount><d2p1:DeadLetterMessageCount>2</d2p1:DeadLetterMessageCount><d2p1:ScheduledMessageCount>3</d2p1:ScheduledMessageCount><d2p1:TransferMessageCount>4</d2p1:TransferMessageCount><d2p1:TransferDeadLetterMessageCount>5</d2p1:TransferDeadLetterMessageCount></CountDetails>`,
		`<UserMetadata>a&#34;b&lt;c</UserMetadata>`,
		`<published>0001-01-01T00:00:00Z</published>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("entry lacks %s:\n%s", want, out)
		}
	}
	if err := xml.Unmarshal([]byte(out), new(any)); err != nil {
		t.Errorf("entry is not well-formed: %v", err)
	}
	feed := string(Feed("Queues", "https://h/$Resources/Queues", "https://h/$Resources/Queues?$skip=2", time.Time{}, []Item{{Meta: meta, Content: Desc("QueueDescription")}}))
	if !strings.Contains(feed, `<link rel="next" href="https://h/$Resources/Queues?$skip=2"/>`) || strings.Count(feed, "<entry ") != 1 {
		t.Errorf("feed:\n%s", feed)
	}
	if e := string(Error(404, "missing <q>")); e != "<Error><Code>404</Code><Detail>missing &lt;q&gt;</Detail></Error>" {
		t.Errorf("error body %s", e)
	}
}

// render writes a parsed description back as an entry (the fuzz round trip).
func render(d *Description) []byte {
	var kids []Elem
	keys := make([]string, 0, len(d.Fields))
	for k := range d.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		kids = append(kids, Text(k, d.Fields[k]))
	}
	if r := d.Rule; r != nil {
		var rk []Elem
		if f := r.Filter; f != nil {
			fe := Elem{Name: "Filter"}
			if f.Type != "" {
				fe.Attrs = [][2]string{{"i:type", "i:" + f.Type}}
			}
			fk := make([]string, 0, len(f.Fields))
			for k := range f.Fields {
				fk = append(fk, k)
			}
			slices.Sort(fk)
			for _, k := range fk {
				fe.Kids = append(fe.Kids, Text(k, f.Fields[k]))
			}
			if f.Properties != nil {
				fe.Kids = append(fe.Kids, Params("Properties", f.Properties))
			}
			if f.Parameters != nil {
				fe.Kids = append(fe.Kids, Params("Parameters", f.Parameters))
			}
			rk = append(rk, fe)
		}
		if a := r.Action; a != nil {
			ae := Elem{Name: "Action", Kids: []Elem{Text("SqlExpression", a.SQLExpression)}}
			if a.Type != "" {
				ae.Attrs = [][2]string{{"i:type", "i:" + a.Type}}
			}
			if a.Parameters != nil {
				ae.Kids = append(ae.Kids, Params("Parameters", a.Parameters))
			}
			rk = append(rk, ae)
		}
		rk = append(rk, Text("Name", r.Name))
		if d.Kind == "RuleDescription" {
			kids = append(kids, rk...)
		} else {
			kids = append(kids, Elem{Name: "DefaultRuleDescription", Kids: rk})
		}
	}
	return Entry(EntryMeta{}, Desc(d.Kind, kids...))
}

// FuzzParse: Parse never panics, refuses with ErrSyntax only, and what it accepts renders back to
// an entry that parses to the same description.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`<entry><content><QueueDescription><LockDuration>PT1M</LockDuration></QueueDescription></content></entry>`))
	f.Add([]byte(`<entry><content><RuleDescription><Filter i:type="CorrelationFilter" xmlns:i="` + NSInstance + `"><Properties><KeyValueOfstringanyType><Key>k</Key><Value i:type="d:int">1</Value></KeyValueOfstringanyType></Properties></Filter><Action/><Name>r</Name></RuleDescription></content></entry>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		again, err := Parse(render(d))
		if err != nil {
			t.Fatalf("re-rendered %+v does not parse: %v\n%s", d, err, render(d))
		}
		if !reflect.DeepEqual(normalize(again), normalize(d)) {
			t.Fatalf("round trip changed the description:\n%+v\n%+v\n%s", d, again, render(d))
		}
	})
}

// normalize makes nil and empty parameter lists equal (an empty list renders as no element).
func normalize(d *Description) *Description {
	c := *d
	if d.Rule != nil {
		r := *d.Rule
		if r.Filter != nil {
			f := *r.Filter
			f.Properties, f.Parameters = slices.Clip(f.Properties), slices.Clip(f.Parameters)
			if len(f.Properties) == 0 {
				f.Properties = nil
			}
			if len(f.Parameters) == 0 {
				f.Parameters = nil
			}
			r.Filter = &f
		}
		if r.Action != nil {
			a := *r.Action
			if len(a.Parameters) == 0 {
				a.Parameters = nil
			}
			r.Action = &a
		}
		c.Rule = &r
	}
	return &c
}
