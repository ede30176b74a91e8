package telemetry

import (
	"context"
	"encoding"
	"fmt"
	"log/slog"
	"reflect"

	"go.opentelemetry.io/otel/trace"
)

// TraceIDs wraps h so that every record logged with a context holding a
// valid span context carries trace_id and span_id attributes; the text and
// JSON handlers then print them and a person can find the trace of a line.
func TraceIDs(h slog.Handler) slog.Handler { return traceIDs{h} }

type traceIDs struct{ slog.Handler }

func (t traceIDs) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return t.Handler.Handle(ctx, r)
}

func (t traceIDs) WithAttrs(as []slog.Attr) slog.Handler { return traceIDs{t.Handler.WithAttrs(as)} }

func (t traceIDs) WithGroup(name string) slog.Handler { return traceIDs{t.Handler.WithGroup(name)} }

// textValues wraps h so that attribute values of other types that know
// their text form (fmt.Stringer, encoding.TextMarshaler: UUIDs, enums)
// reach it as strings. The OTel log bridge would otherwise export a UUID as
// an array of bytes and a named string type as "unhandled".
func textValues(h slog.Handler) slog.Handler { return textHandler{h} }

type textHandler struct{ slog.Handler }

func (t textHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(textAttr(a))
		return true
	})
	return t.Handler.Handle(ctx, out)
}

func (t textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	conv := make([]slog.Attr, len(as))
	for i, a := range as {
		conv[i] = textAttr(a)
	}
	return textHandler{t.Handler.WithAttrs(conv)}
}

func (t textHandler) WithGroup(name string) slog.Handler {
	return textHandler{t.Handler.WithGroup(name)}
}

func textAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		conv := make([]any, len(g))
		for i, x := range g {
			conv[i] = textAttr(x)
		}
		return slog.Group(a.Key, conv...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, x.Error())
		case fmt.Stringer:
			return slog.String(a.Key, x.String())
		case encoding.TextMarshaler:
			if b, err := x.MarshalText(); err == nil {
				return slog.String(a.Key, string(b))
			}
		}
		if rv := reflect.ValueOf(v.Any()); rv.Kind() == reflect.String {
			return slog.String(a.Key, rv.String())
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
