package api

import (
	"context"
	"errors"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/store"
)

// This file is the one place where failures become HTTP answers: a
// failure's kind (errkind, the one list of kinds with their status and
// docs/api.md code) is rendered as the error document; store and
// Temporal errors that carry no kind get one here.

// apiError is an answer that is not 2xx.
type apiError struct {
	Kind    errkind.Kind
	Message string
	Extra   map[string]any
}

func (e *apiError) Error() string { return string(e.Kind) + ": " + e.Message }

func newErr(k errkind.Kind, msg string) *apiError {
	return &apiError{Kind: k, Message: msg}
}

func (e *apiError) with(k string, v any) *apiError {
	if e.Extra == nil {
		e.Extra = map[string]any{}
	}
	e.Extra[k] = v
	return e
}

func badRequest(msg string) *apiError { return newErr(errkind.BadRequest, msg) }

func rateLimited(retryAfter int) *apiError {
	return newErr(errkind.RateLimited, "too many attempts; try again later").with("retry_after", retryAfter)
}

// fail writes err as docs/api.md's error document and aborts the chain.
func fail(c *gin.Context, err error) {
	e := toAPIError(err)
	h, ok := e.Kind.HTTP()
	if !ok {
		// A kind outside the list is a bug; errkind's tests keep the list whole.
		h, _ = errkind.Unavailable.HTTP()
	}
	msg := e.Message
	if h.Hidden {
		msg = "a dependency is unavailable; try again"
	}
	body := gin.H{"code": h.Code, "message": msg}
	for k, v := range e.Extra {
		body[k] = v
	}
	if e.Kind == errkind.RateLimited {
		if ra, ok := e.Extra["retry_after"].(int); ok {
			c.Header("Retry-After", strconv.Itoa(ra))
		}
	}
	if h.Status >= 500 {
		logFrom(c).Error("request failed", "kind", string(e.Kind), "err", err)
	}
	c.AbortWithStatusJSON(h.Status, gin.H{"error": body})
}

// toAPIError finds the kind of err: its own (an apiError, or a failure of
// a flow or of the domain rules), else the one its store or Temporal error
// means.
func toAPIError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	if k, ae, ok := errkind.Of(err); ok {
		out := newErr(k, ae.Message())
		switch k {
		case errkind.RateLimited:
			var d errkind.RateLimitDetails
			_ = ae.Details(&d)
			out = out.with("retry_after", max(1, d.RetryAfterSeconds))
			if d.Locked {
				out = out.with("locked", true)
			}
		case errkind.InvalidCode, errkind.InvalidAssertion, errkind.CodeAlreadyUsed:
			var d errkind.AttemptsDetails
			_ = ae.Details(&d)
			out = out.with("attempts_left", d.AttemptsLeft)
		}
		return out
	}
	var nf *serviceerror.NotFound
	var qf *serviceerror.QueryFailed
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newErr(errkind.NotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		return newErr(errkind.Conflict, "already exists")
	case errors.As(err, &nf):
		return newErr(errkind.FlowNotFound, "no such flow")
	case errors.As(err, &qf):
		// A login flow's query fails only for a caller without the flow's
		// secret: to that caller the flow does not exist.
		return newErr(errkind.FlowNotFound, "no such flow")
	case errors.Is(err, context.DeadlineExceeded):
		return newErr(errkind.Unavailable, "the request took too long; try again")
	}
	return newErr(errkind.Unavailable, "a dependency is unavailable; try again")
}
