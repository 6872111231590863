package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/workflows"
)

// Error codes of API.md. This file is the one place where failures become
// HTTP answers.
const (
	codeBadRequest            = "bad_request"
	codeInvalidCredentials    = "invalid_credentials"
	codeUnauthorized          = "unauthorized"
	codeInvalidCode           = "invalid_code"
	codeInvalidAssertion      = "invalid_assertion"
	codeDowngradeNotConfirmed = "downgrade_not_confirmed"
	codeMethodUnavailable     = "method_unavailable"
	codeWrongState            = "wrong_state"
	codeFlowExpired           = "flow_expired"
	codeFlowNotFound          = "flow_not_found"
	codeNotFound              = "not_found"
	codeConflict              = "conflict"
	codeRateLimited           = "rate_limited"
	codeReauthRequired        = "reauth_required"
	codePayloadTooLarge       = "payload_too_large"
	codeUnavailable           = "unavailable"
)

var statusOf = map[string]int{
	codeBadRequest:            http.StatusBadRequest,
	codeInvalidCredentials:    http.StatusUnauthorized,
	codeUnauthorized:          http.StatusUnauthorized,
	codeInvalidCode:           http.StatusBadRequest,
	codeInvalidAssertion:      http.StatusBadRequest,
	codeDowngradeNotConfirmed: http.StatusConflict,
	codeMethodUnavailable:     http.StatusConflict,
	codeWrongState:            http.StatusConflict,
	codeFlowExpired:           http.StatusGone,
	codeFlowNotFound:          http.StatusNotFound,
	codeNotFound:              http.StatusNotFound,
	codeConflict:              http.StatusConflict,
	codeRateLimited:           http.StatusTooManyRequests,
	codeReauthRequired:        http.StatusForbidden,
	codePayloadTooLarge:       http.StatusRequestEntityTooLarge,
	codeUnavailable:           http.StatusServiceUnavailable,
}

// apiError is an answer that is not 2xx.
type apiError struct {
	Status  int
	Code    string
	Message string
	Extra   map[string]any
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newErr(code, msg string) *apiError {
	return &apiError{Status: statusOf[code], Code: code, Message: msg}
}

func (e *apiError) with(k string, v any) *apiError {
	if e.Extra == nil {
		e.Extra = map[string]any{}
	}
	e.Extra[k] = v
	return e
}

func badRequest(msg string) *apiError { return newErr(codeBadRequest, msg) }

func rateLimited(retryAfter int) *apiError {
	return newErr(codeRateLimited, "too many attempts; try again later").with("retry_after", retryAfter)
}

// fail writes err as API.md's error document and aborts the chain.
func fail(c *gin.Context, err error) {
	e := toAPIError(c.Request.Context(), err)
	body := gin.H{"code": e.Code, "message": e.Message}
	for k, v := range e.Extra {
		body[k] = v
	}
	if e.Code == codeRateLimited {
		if ra, ok := e.Extra["retry_after"].(int); ok {
			c.Header("Retry-After", strconv.Itoa(ra))
		}
	}
	if e.Status >= 500 {
		logFrom(c).Error("request failed", "code", e.Code, "err", err)
	}
	c.AbortWithStatusJSON(e.Status, gin.H{"error": body})
}

// workflowErrCodes maps the contract's ApplicationError types.
var workflowErrCodes = map[string]string{
	workflows.ErrInvalidCredentials:    codeInvalidCredentials,
	workflows.ErrRateLimited:           codeRateLimited,
	workflows.ErrInvalidCode:           codeInvalidCode,
	workflows.ErrInvalidAssertion:      codeInvalidAssertion,
	workflows.ErrDowngradeNotConfirmed: codeDowngradeNotConfirmed,
	workflows.ErrMethodUnavailable:     codeMethodUnavailable,
	workflows.ErrWrongState:            codeWrongState,
	workflows.ErrFlowExpired:           codeFlowExpired,
	workflows.ErrBadRequest:            codeBadRequest,
	workflows.ErrConflict:              codeConflict,
	workflows.ErrNotFound:              codeFlowNotFound,
	workflows.ErrFlowNotFound:          codeFlowNotFound,
	workflows.ErrUnavailable:           codeUnavailable,
}

func toAPIError(ctx context.Context, err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		if e.Status == 0 {
			e.Status = statusOf[e.Code]
		}
		return e
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		if code, ok := workflowErrCodes[ae.Type()]; ok {
			out := newErr(code, ae.Message())
			switch code {
			case codeRateLimited:
				var d workflows.RateLimitDetails
				_ = ae.Details(&d)
				out = out.with("retry_after", max(1, d.RetryAfterSeconds))
				if d.Locked {
					out = out.with("locked", true)
				}
			case codeInvalidCode, codeInvalidAssertion:
				var d workflows.AttemptsDetails
				_ = ae.Details(&d)
				out = out.with("attempts_left", d.AttemptsLeft)
			}
			return out
		}
	}
	var nf *serviceerror.NotFound
	var qf *serviceerror.QueryFailed
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newErr(codeNotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		return newErr(codeConflict, "already exists")
	case errors.As(err, &nf):
		return newErr(codeFlowNotFound, "no such flow")
	case errors.As(err, &qf):
		// A login flow's query fails only for a caller without the flow's
		// secret: to that caller the flow does not exist.
		return newErr(codeFlowNotFound, "no such flow")
	case errors.Is(err, context.DeadlineExceeded):
		return newErr(codeUnavailable, "the request took too long; try again")
	}
	return newErr(codeUnavailable, "a dependency is unavailable; try again")
}
