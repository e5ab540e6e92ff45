package mock

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// openAIError is OpenAI's error body.
type openAIError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// anthropicError is Anthropic's error body.
type anthropicError struct {
	Type  string `json:"type"` // always "error"
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError writes an error in the shape of the path's API: Anthropic's on /v1/messages, where an SDK
// would look for it there, OpenAI's elsewhere. Anthropic's shape has no code or param.
func writeError(w http.ResponseWriter, anthropic bool, status int, typ, code, param, msg string) {
	if anthropic {
		var e anthropicError
		e.Type = "error"
		e.Error.Type = anthropicErrorType(status)
		e.Error.Message = msg
		writeBody(w, status, &e)
		return
	}
	var e openAIError
	e.Error.Message = msg
	e.Error.Type = typ
	if param != "" {
		e.Error.Param = &param
	}
	if code != "" {
		e.Error.Code = &code
	}
	writeBody(w, status, &e)
}

// writeBadRequest answers 400 for err, a *badRequest.
func writeBadRequest(w http.ResponseWriter, anthropic bool, err error) {
	var br *badRequest
	if !errors.As(err, &br) {
		br = &badRequest{msg: err.Error()}
	}
	writeError(w, anthropic, http.StatusBadRequest, "invalid_request_error", "invalid_request", br.param, br.msg)
}

// writeInjectedStatus answers with the status asked for by X-Mock-Status, with the error type and code
// the real API would use for it, and Retry-After where a well-behaved client should back off.
func writeInjectedStatus(w http.ResponseWriter, anthropic bool, status int) {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, 529:
		w.Header().Set("Retry-After", "1")
	}
	typ, code := openAIErrorType(status)
	writeError(w, anthropic, status, typ, code, "",
		"mock: status "+strconv.Itoa(status)+" injected by "+HeaderStatus)
}

func openAIErrorType(status int) (typ, code string) {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key"
	case status == http.StatusForbidden:
		return "permission_error", "permission_denied"
	case status == http.StatusNotFound:
		return "invalid_request_error", "not_found"
	case status == http.StatusTooManyRequests:
		return "requests", "rate_limit_exceeded"
	case status >= 500:
		return "server_error", statusCode(status)
	}
	return "invalid_request_error", statusCode(status)
}

func anthropicErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusPaymentRequired:
		return "billing_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusServiceUnavailable, status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

// statusCode turns a status into an error code: 503 is "service_unavailable".
func statusCode(status int) string {
	t := http.StatusText(status)
	if t == "" {
		return "http_" + strconv.Itoa(status)
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r == ' ' || r == '-':
			return '_'
		}
		return -1
	}, t)
}
