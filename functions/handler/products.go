package handler

import (
	"net/http"

	"github.com/orderflow/orderflow/shared/order"
)

// productList is the ListProducts response.
type productList struct {
	Products []order.Product `json:"products"`
}

// listProducts is ListProducts: GET /api/products.
func (h *Handler) listProducts(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.requestContext(r)
	defer cancel()
	ps, err := h.cfg.Store.Products.List(ctx)
	if err != nil {
		h.serverError(w, r, "listing products", err)
		return
	}
	if ps == nil {
		ps = []order.Product{}
	}
	writeJSON(w, http.StatusOK, "application/json", productList{Products: ps})
}

// createProduct is CreateProduct: POST /api/products.
func (h *Handler) createProduct(w http.ResponseWriter, r *http.Request) {
	body, ok := h.jsonBody(w, r)
	if !ok {
		return
	}
	np, err := order.DecodeProduct(body)
	if err != nil {
		h.decodeError(w, r, err)
		return
	}
	ctx, cancel := h.requestContext(r)
	defer cancel()
	p, err := h.cfg.Store.Products.Create(ctx, np)
	if err != nil {
		h.serverError(w, r, "creating product", err)
		return
	}
	writeJSON(w, http.StatusCreated, "application/json", p)
}
