/**
 * @packageDocumentation
 * keepalived's health checkers (TCP_CHECK, HTTP_GET, SSL_GET, SMTP_CHECK, MISC_CHECK, DNS_CHECK, UDP_CHECK,
 * PING_CHECK, FILE_CHECK) with its exact retry semantics and real-server / virtual-server layer, on Effect.
 */
export * as Config from "./Config.ts"
export * as DnsCheck from "./DnsCheck.ts"
export * as Endpoint from "./Endpoint.ts"
export * as FileCheck from "./FileCheck.ts"
export * as FlapDamper from "./FlapDamper.ts"
export * as Genhash from "./Genhash.ts"
export * as HealthChecker from "./HealthChecker.ts"
export * as HttpCheck from "./HttpCheck.ts"
export * as Log from "./Log.ts"
export * as Metrics from "./Metrics.ts"
export * as MiscCheck from "./MiscCheck.ts"
export * as PingCheck from "./PingCheck.ts"
export * as Pool from "./Pool.ts"
export * as Probe from "./Probe.ts"
export * as RetryMachine from "./RetryMachine.ts"
export * as Script from "./Script.ts"
export * as SmtpCheck from "./SmtpCheck.ts"
export * as TcpCheck from "./TcpCheck.ts"
export * as TcpEngine from "./TcpEngine.ts"
export * as UdpCheck from "./UdpCheck.ts"
export * as UrlCycle from "./UrlCycle.ts"
