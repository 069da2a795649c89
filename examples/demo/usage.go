package main

// usage is what -h prints above the flags.
const usage = `usage: demo [--endpoints HOST:PORT,...] [--prefix PREFIX] [--ttl 2s] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]]

With no --endpoints, demo starts an embedded etcd of its own.`
