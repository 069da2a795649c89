package main

// usage is what -h prints above the flags.
const usage = `usage: election [--endpoints HOST:PORT,... --name NAME] [--prefix PREFIX] [--ttl 2s] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]]

With --endpoints, one candidate named --name campaigns until interrupted.
Without, a self-contained run: an embedded etcd, three candidates, a failover.`
