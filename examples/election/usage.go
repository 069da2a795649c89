package main

// usage is what -h prints above the flags.
const usage = `usage: election [--endpoints HOST:PORT,... --name NAME [--advertise URL]] [--listen 127.0.0.1:0] [--prefix PREFIX] [--ttl 2s] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]]

With --endpoints, one candidate named --name campaigns until interrupted, and
serves HTTP on --listen: GET /work (200 on the leader, 503 naming the leader
elsewhere), /healthz (200 on the leader alone) and /metrics (Prometheus).
Without, a self-contained run: an embedded etcd, three candidates, each with
its HTTP server, a failover.`
