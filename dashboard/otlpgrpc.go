package dashboard

import (
	"context"
	"net"
	"strconv"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // exporters may compress (OTEL_EXPORTER_OTLP_COMPRESSION=gzip)
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orderflow/orderflow/internal/loopback"
)

// newGRPCServer serves OTLP/gRPC (the collector's Export services for traces,
// metrics and logs) into the same store as the OTLP/HTTP receiver, with the
// same per-request bound: grpc-go applies MaxRecvMsgSize to the message
// after decompression, so a small gzip body cannot expand past it.
func (d *Dashboard) newGRPCServer() *grpc.Server {
	s := grpc.NewServer(
		grpc.MaxRecvMsgSize(maxOTLPBody),
		grpc.MaxConcurrentStreams(16),
		grpc.ConnectionTimeout(5*time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 2 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.UnaryInterceptor(loopbackAuthority),
	)
	coltrace.RegisterTraceServiceServer(s, traceReceiver{d: d})
	colmetrics.RegisterMetricsServiceServer(s, metricsReceiver{d: d})
	collogs.RegisterLogsServiceServer(s, logsReceiver{d: d})
	return s
}

// loopbackAuthority refuses calls addressed to a non-loopback name, as
// loopbackOnly does for the pages: the receiver is for this machine's
// processes.
func loopbackAuthority(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if a := md.Get(":authority"); len(a) > 0 && !loopback.Allowed(a[0], nil) {
		return nil, status.Error(codes.PermissionDenied, "authority "+strconv.Quote(a[0])+" is not served; only loopback names are")
	}
	return next(ctx, req)
}

type traceReceiver struct {
	coltrace.UnimplementedTraceServiceServer
	d *Dashboard
}

// Export stores the spans of one export request.
func (r traceReceiver) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	r.d.store.addSpans(req.GetResourceSpans())
	return &coltrace.ExportTraceServiceResponse{}, nil
}

type metricsReceiver struct {
	colmetrics.UnimplementedMetricsServiceServer
	d *Dashboard
}

// Export stores the metrics of one export request.
func (r metricsReceiver) Export(_ context.Context, req *colmetrics.ExportMetricsServiceRequest) (*colmetrics.ExportMetricsServiceResponse, error) {
	r.d.store.addMetrics(req.GetResourceMetrics())
	return &colmetrics.ExportMetricsServiceResponse{}, nil
}

type logsReceiver struct {
	collogs.UnimplementedLogsServiceServer
	d *Dashboard
}

// Export stores the log records of one export request.
func (r logsReceiver) Export(_ context.Context, req *collogs.ExportLogsServiceRequest) (*collogs.ExportLogsServiceResponse, error) {
	r.d.store.addLogs(req.GetResourceLogs())
	return &collogs.ExportLogsServiceResponse{}, nil
}

// listenGRPC opens the OTLP/gRPC listener of cfg, or returns nil when it is
// off.
func listenGRPC(cfg Config) (net.Listener, error) {
	if cfg.GRPCListener != nil {
		return cfg.GRPCListener, nil
	}
	if cfg.GRPCAddr == "" {
		return nil, nil
	}
	return net.Listen("tcp", cfg.GRPCAddr)
}
