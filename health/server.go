package health

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// DefaultPollInterval is how often a Watch looks at its source when
// WithPollInterval is not given.
const DefaultPollInterval = 100 * time.Millisecond

// An Option configures a Server. Options are validated by NewServer.
type Option interface {
	apply(*serverOptions)
}

type serverOptions struct {
	services []string
	poll     time.Duration
}

type optionFunc func(*serverOptions)

func (f optionFunc) apply(o *serverOptions) { f(o) }

// WithService makes the Server answer for the named service too, with the
// same status as the overall one (the empty name), which it always answers
// for. It may be given more than once. The name must not be empty. Default:
// the empty name only; other names get NOT_FOUND from Check and
// SERVICE_UNKNOWN from Watch, as the protocol says.
func WithService(name string) Option {
	return optionFunc(func(o *serverOptions) { o.services = append(o.services, name) })
}

// WithPollInterval sets how often each Watch looks at the source for a
// change of status, and so how late at most it reports one. It must be
// positive. Default DefaultPollInterval.
func WithPollInterval(d time.Duration) Option {
	return optionFunc(func(o *serverOptions) { o.poll = d })
}

// Server is gRPC's health service (grpc.health.v1.Health) over a selector
// member: SERVING while the member is healthy in the Server's mode,
// NOT_SERVING otherwise. Register it with healthpb.RegisterHealthServer.
// Its methods are safe for concurrent use.
type Server struct {
	healthpb.UnimplementedHealthServer

	src      Source
	mode     Mode
	services []string // known names, "" first
	poll     time.Duration

	shutOnce sync.Once
	shut     chan struct{} // closed by Shutdown
}

var _ healthpb.HealthServer = (*Server)(nil)

// NewServer returns a health service for src in mode m.
func NewServer(src Source, m Mode, opts ...Option) (*Server, error) {
	if src == nil {
		return nil, invalid("source", "nil")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	o := serverOptions{poll: DefaultPollInterval}
	for _, opt := range opts {
		if opt == nil {
			return nil, invalid("Option", "nil")
		}
		opt.apply(&o)
	}
	if o.poll <= 0 {
		return nil, invalid("WithPollInterval", "%v is not positive", o.poll)
	}
	services := []string{""}
	for _, name := range o.services {
		if name == "" {
			return nil, invalid("WithService", "empty name")
		}
		if !slices.Contains(services, name) {
			services = append(services, name)
		}
	}
	return &Server{src: src, mode: m, services: services, poll: o.poll, shut: make(chan struct{})}, nil
}

// Shutdown makes every service NOT_SERVING from now on, whatever the
// member's state, and ends every Watch after it has sent NOT_SERVING, so
// that grpc.Server.GracefulStop does not wait for watchers forever. Call it
// when the process is about to stop. Later calls do nothing.
func (s *Server) Shutdown() {
	s.shutOnce.Do(func() { close(s.shut) })
}

func (s *Server) status() healthpb.HealthCheckResponse_ServingStatus {
	select {
	case <-s.shut:
		return healthpb.HealthCheckResponse_NOT_SERVING
	default:
	}
	if Healthy(s.src.Status(), s.mode) {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

func (s *Server) known(service string) bool { return slices.Contains(s.services, service) }

// Check returns the status of the named service: the member's, for the
// empty name and the names given by WithService; a NotFound error for
// others.
func (s *Server) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !s.known(req.GetService()) {
		return nil, status.Errorf(codes.NotFound, "health: unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: s.status()}, nil
}

// List returns the status of every service the Server answers for.
func (s *Server) List(ctx context.Context, _ *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	st := s.status()
	m := make(map[string]*healthpb.HealthCheckResponse, len(s.services))
	for _, name := range s.services {
		m[name] = &healthpb.HealthCheckResponse{Status: st}
	}
	return &healthpb.HealthListResponse{Statuses: m}, nil
}

// Watch sends the status of the named service at once, then again each
// time it changes, noticed within the poll interval, until the client
// cancels the call or Shutdown is called: then it sends NOT_SERVING, if it
// has not, and ends the call with OK. An unknown service gets
// SERVICE_UNKNOWN, and the call stays open until then, as the protocol
// asks.
func (s *Server) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	known := s.known(req.GetService())
	current := func() healthpb.HealthCheckResponse_ServingStatus {
		if !known {
			return healthpb.HealthCheckResponse_SERVICE_UNKNOWN
		}
		return s.status()
	}
	send := func(st healthpb.HealthCheckResponse_ServingStatus) error {
		return stream.Send(&healthpb.HealthCheckResponse{Status: st})
	}
	last := current()
	if err := send(last); err != nil {
		return err
	}
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	for {
		select {
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		case <-s.shut:
			if known && last != healthpb.HealthCheckResponse_NOT_SERVING {
				return send(healthpb.HealthCheckResponse_NOT_SERVING)
			}
			return nil
		case <-tick.C:
			if st := current(); st != last {
				if err := send(st); err != nil {
					return err
				}
				last = st
			}
		}
	}
}
