package health

import (
	"fmt"
	"net/http"
)

// NewHandler returns an HTTP handler that answers 200 OK while src is
// healthy in mode m and 503 Service Unavailable otherwise, to any method,
// with a one-line text body that gives the member's id, role and state,
// such as "ok db-1 MASTER REFRESH" (an election candidate, which has no
// id, gives "ok MASTER REFRESH"). Responses are not cached. The handler is
// safe for concurrent use.
func NewHandler(src Source, m Mode) (http.Handler, error) {
	if src == nil {
		return nil, invalid("source", "nil")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &handler{src: src, mode: m}, nil
}

type handler struct {
	src  Source
	mode Mode
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := h.src.Status()
	word, code := "unavailable", http.StatusServiceUnavailable
	if Healthy(st, h.mode) {
		word, code = "ok", http.StatusOK
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		if st.ID != "" {
			word += " " + st.ID
		}
		fmt.Fprintf(w, "%s %v %v\n", word, st.Role, st.State)
	}
}
