package handler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/order"
	"github.com/orderflow/orderflow/shared/store"
)

// MaxIdempotencyKeyLen bounds the Idempotency-Key header.
const MaxIdempotencyKeyLen = 200

// createOrder is CreateOrder: POST /api/orders.
func (h *Handler) createOrder(w http.ResponseWriter, r *http.Request) {
	body, ok := h.jsonBody(w, r)
	if !ok {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > MaxIdempotencyKeyLen || strings.IndexFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
		writeProblem(w, r, Problem{Type: ProblemMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("Idempotency-Key must be 1 to %d visible ASCII characters", MaxIdempotencyKeyLen)})
		return
	}
	req, err := order.DecodeCreate(body)
	if err != nil {
		h.decodeError(w, r, err)
		return
	}
	ctx, cancel := h.requestContext(r)
	defer cancel()
	placed, err := h.cfg.Store.Orders.Create(h.withTraceContext(ctx), req, key, h.cfg.Topology.RoutingKey)
	var ve *order.ValidationError
	switch {
	case errors.As(err, &ve):
		validationProblem(w, r, ve)
		return
	case errors.Is(err, store.ErrIdempotencyConflict):
		writeProblem(w, r, Problem{Type: ProblemIdempotency, Title: "Idempotency-Key reused", Status: http.StatusUnprocessableEntity,
			Detail: "this Idempotency-Key was already used for a different order; use a new key for a new order"})
		return
	case err != nil:
		h.serverError(w, r, "creating order", err)
		return
	}
	if placed.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		h.inst.created.Add(ctx, 1)
		h.publishNow(r, placed.Event)
	}
	w.Header().Set("Location", h.cfg.RoutePrefix+"/orders/"+placed.Order.ID.String())
	writeJSON(w, http.StatusCreated, "application/json", placed.Order)
}

// publishNow publishes the order's event right after commit. A failure is
// only logged: the event is safe in the outbox and OutboxRelay sends it.
func (h *Handler) publishNow(r *http.Request, e store.Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.PublishTimeout)
	defer cancel()
	if err := h.cfg.Store.Outbox.PublishCommitted(ctx, e, h.publish); err != nil {
		h.cfg.Logger.WarnContext(ctx, "publishing after commit failed; OutboxRelay will retry", "outboxId", e.ID, "err", err)
	}
}

// publish is the outbox's PublishFunc.
func (h *Handler) publish(ctx context.Context, e store.Event) error {
	return h.sendTraced(ctx, e, func(ctx context.Context, props map[string]string) error {
		return h.cfg.Publisher.Publish(ctx, bus.Message{
			ID: e.EventID.String(), Type: e.Type, Subject: e.Subject, ContentType: e.ContentType, Body: e.Payload, Properties: props,
		})
	})
}

// getOrder is GetOrder: GET /api/orders/{id}.
func (h *Handler) getOrder(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		writeProblem(w, r, Problem{Type: ProblemMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
			Detail: "the order id must be a UUID", Errors: []order.FieldError{{Field: "id", Message: "must be a UUID"}}})
		return
	}
	ctx, cancel := h.requestContext(r)
	defer cancel()
	o, err := h.cfg.Store.Orders.Get(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		status(w, r, http.StatusNotFound, fmt.Sprintf("there is no order %s", id))
	case err != nil:
		h.serverError(w, r, "reading order", err)
	default:
		writeJSON(w, http.StatusOK, "application/json", o)
	}
}

// jsonBody checks the content type and size limit and returns the body.
func (h *Handler) jsonBody(w http.ResponseWriter, r *http.Request) (io.Reader, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		w.Header().Set("Accept-Post", "application/json")
		status(w, r, http.StatusUnsupportedMediaType, "the body must be JSON sent with Content-Type: application/json")
		return nil, false
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.tooLarge(w, r)
		return nil, false
	}
	return http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes), true
}

func (h *Handler) tooLarge(w http.ResponseWriter, r *http.Request) {
	status(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body must not exceed %d bytes", h.cfg.MaxBodyBytes))
}

// decodeError answers a failed decode: the client's mistake as 400/422/413,
// anything else (a broken connection) as 400 since the body never arrived.
func (h *Handler) decodeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ve  *order.ValidationError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		h.tooLarge(w, r)
	case errors.As(err, &ve):
		validationProblem(w, r, ve)
	default:
		h.cfg.Logger.WarnContext(r.Context(), "reading request body", "path", r.URL.Path, "err", err)
		writeProblem(w, r, Problem{Type: ProblemMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
			Detail: "the request body could not be read completely"})
	}
}

func validationProblem(w http.ResponseWriter, r *http.Request, ve *order.ValidationError) {
	if ve.Kind == order.Malformed {
		writeProblem(w, r, Problem{Type: ProblemMalformed, Title: "Malformed request", Status: http.StatusBadRequest, Detail: ve.Detail, Errors: ve.Fields})
		return
	}
	writeProblem(w, r, Problem{Type: ProblemValidation, Title: "Validation failed", Status: http.StatusUnprocessableEntity, Detail: ve.Detail, Errors: ve.Fields})
}
