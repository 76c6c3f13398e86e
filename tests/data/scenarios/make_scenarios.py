#!/usr/bin/env python3
"""Writes the recorded event sets of issue 10's five scenarios (tests/data/scenarios/*.log).

The .log files are committed; this script is how they were made, so that a change of the
story (a time, an address, one more line) is made here and the files written again:

    python3 tests/data/scenarios/make_scenarios.py

Every line is what the device really sends: PAN-OS 11.x syslog (THREAT and TRAFFIC rows with
every column, high_res_timestamp with its +09:00 offset), Apache combined access-log lines,
Entra ID sign-in records as diagnostic settings export them, Microsoft Graph security
alerts (alerts_v2). The times are 2026-11-24 (JST). Addresses are documentation ranges:
203.0.113.0/24 the attackers and their servers, 198.51.100.0/24 the city's published
servers (routed DMZ, no NAT), 10.0.0.0/8 the PCs behind the firewall's source NAT.
README.md in this folder tells each story and the alerts and incidents it must raise.
"""
import json
import os
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
JST = timezone(timedelta(hours=9))
FIREWALL = "pa-3410-city"
SERIAL = "024101003311"

# The column names of src/parse/panos.c (None: a FUTURE_USE column).
COMMON = [None, "receive_time", "serial", "type", "subtype", "config_version", "time_generated"]
NET = ["src", "dst", "natsrc", "natdst", "rule", "srcuser", "dstuser", "app", "vsys", "from",
       "to", "inbound_if", "outbound_if", "logset", "time_logged", "sessionid", "repeatcnt",
       "sport", "dport", "natsport", "natdport", "flags", "proto", "action"]
DG = ["dg_hier_level_1", "dg_hier_level_2", "dg_hier_level_3", "dg_hier_level_4"]


def device(p):
    return [p + x for x in ("category", "profile", "model", "vendor", "osfamily", "osversion",
                            "host", "mac")]


APP = ["subcategory_of_app", "category_of_app", "technology_of_app", "risk_of_app",
       "characteristic_of_app", "container_of_app", "tunneled_app", "is_saas_of_app",
       "sanctioned_state_of_app"]
TRAFFIC = COMMON + NET + [
    "bytes", "bytes_sent", "bytes_received", "packets", "start", "elapsed", "category", None,
    "seqno", "actionflags", "srcloc", "dstloc", None, "pkts_sent", "pkts_received",
    "session_end_reason"] + DG + [
    "vsys_name", "device_name", "action_source", "src_uuid", "dst_uuid", "tunnelid",
    "monitortag", "parent_session_id", "parent_start_time", "tunnel", "assoc_id", "chunks",
    "chunks_sent", "chunks_received", "rule_uuid", "http2_connection", "link_change_count",
    "policy_id", "link_switches", "sdwan_cluster", "sdwan_device_type", "sdwan_cluster_type",
    "sdwan_site", "dynusergroup_name", "xff_ip"] + device("src_") + device("dst_") + [
    "container_id", "pod_namespace", "pod_name", "src_edl", "dst_edl", "hostid",
    "serialnumber", "src_dag", "dst_dag", "session_owner", "high_res_timestamp", "nssai_sst",
    "nssai_sd"] + APP + ["offloaded"]
THREAT = COMMON + NET + [
    "misc", "threatid", "category", "severity", "direction", "seqno", "actionflags", "srcloc",
    "dstloc", None, "contenttype", "pcap_id", "filedigest", "cloud", "url_idx", "user_agent",
    "filetype", "xff", "referer", "sender", "subject", "recipient", "reportid"] + DG + [
    "vsys_name", "device_name", None, "src_uuid", "dst_uuid", "http_method", "tunnelid",
    "monitortag", "parent_session_id", "parent_start_time", "tunnel", "thr_category",
    "contentver", None, "assoc_id", "ppid", "http_headers", "url_category_list", "rule_uuid",
    "http2_connection", "dynusergroup_name", "xff_ip"] + device("src_") + device("dst_") + [
    "container_id", "pod_namespace", "pod_name", "src_edl", "dst_edl", "hostid",
    "serialnumber", "domain_edl", "src_dag", "dst_dag", "partial_hash", "high_res_timestamp",
    "reason", "justification", "nssai_sst"] + APP + ["cloud_reportid"]
assert len(THREAT) == 121, len(THREAT)

RULE_UUID = {"allow-dmz-web": "3d0c5a52-7f0e-4b8e-9d0f-5b3e1a2c4d01",
             "allow-internet": "3d0c5a52-7f0e-4b8e-9d0f-5b3e1a2c4d02",
             "allow-dmz-out": "3d0c5a52-7f0e-4b8e-9d0f-5b3e1a2c4d03"}


def csv_cell(v):
    v = "" if v is None else str(v)
    if any(c in v for c in ',"\n'):
        return '"' + v.replace('"', '""') + '"'
    return v


class Firewall:
    """Writes PAN-OS rows with increasing sequence numbers."""

    def __init__(self):
        self.seq = {"TRAFFIC": 7340001, "THREAT": 1190001}

    def row(self, cols, kind, subtype, at, values):
        self.seq[kind] += 1
        panos = at.strftime("%Y/%m/%d %H:%M:%S")
        v = {"receive_time": panos, "serial": SERIAL, "type": kind, "subtype": subtype,
             "config_version": "2817", "time_generated": panos, "vsys": "vsys1",
             "time_logged": panos, "repeatcnt": "1", "flags": "0x400000", "proto": "tcp",
             "logset": "fwd-syslog", "seqno": str(self.seq[kind]),
             "actionflags": "0x8000000000000000", "device_name": FIREWALL,
             "dg_hier_level_1": "0", "dg_hier_level_2": "0", "dg_hier_level_3": "0",
             "dg_hier_level_4": "0",
             "high_res_timestamp": at.isoformat(timespec="milliseconds")}
        v["rule_uuid"] = RULE_UUID.get(values.get("rule"), "")
        v.update(values)
        fields = [csv_cell(v.get(c, "")) if c else "" for c in cols]
        header = "<14>%s %s " % (at.strftime("%b %d %H:%M:%S"), FIREWALL)
        return header + "1," + ",".join(fields[1:])

    def threat(self, at, subtype, values):
        return self.row(THREAT, "THREAT", subtype, at, values)

    def traffic(self, at, values):
        return self.row(TRAFFIC, "TRAFFIC", "end", at, values)


def inbound(src, sport, dst, dport, session, app="web-browsing"):
    """The session columns of a connection from the Internet to a DMZ server (no NAT)."""
    return {"src": src, "dst": dst, "natsrc": "0.0.0.0", "natdst": "0.0.0.0",
            "rule": "allow-dmz-web", "app": app, "from": "untrust", "to": "dmz",
            "inbound_if": "ethernet1/1", "outbound_if": "ethernet1/3", "sessionid": session,
            "sport": sport, "dport": dport, "natsport": "0", "natdport": "0",
            "srcloc": "United States", "dstloc": "Japan"}


def outbound(src, sport, dst, dport, session, natsrc, natsport, user="", app="ssl",
             rule="allow-internet", zone="trust", dstloc="United States"):
    """A connection from inside to the Internet, behind source NAT when natsrc is given."""
    return {"src": src, "dst": dst, "natsrc": natsrc or "0.0.0.0", "natdst": "0.0.0.0",
            "rule": rule, "srcuser": user, "app": app, "from": zone, "to": "untrust",
            "inbound_if": "ethernet1/2" if zone == "trust" else "ethernet1/3",
            "outbound_if": "ethernet1/1", "sessionid": session, "sport": sport,
            "dport": dport, "natsport": natsport or "0", "natdport": "0",
            "srcloc": "10.0.0.0-10.255.255.255" if zone == "trust" else "Japan",
            "dstloc": dstloc}


def ended(values, start, end, sent, received, pkts_sent, pkts_received, reason,
          category="any", action="allow"):
    v = dict(values)
    v.update({"action": action, "bytes": sent + received, "bytes_sent": sent,
              "bytes_received": received, "packets": pkts_sent + pkts_received,
              "pkts_sent": pkts_sent, "pkts_received": pkts_received,
              "start": start.strftime("%Y/%m/%d %H:%M:%S"),
              "elapsed": int((end - start).total_seconds()), "category": category,
              "session_end_reason": reason, "action_source": "from-policy",
              "parent_session_id": "0", "tunnel": "N/A", "tunnelid": "0", "assoc_id": "0",
              "chunks": "0", "chunks_sent": "0", "chunks_received": "0",
              "http2_connection": "0", "link_change_count": "0", "policy_id": "0",
              "offloaded": "no"})
    return v


def threat_values(values, action, misc, name, tid, severity, category, direction,
                  method="get", agent=""):
    v = dict(values)
    v.update({"action": action, "misc": misc, "threatid": "%s(%d)" % (name, tid),
              "category": "any", "severity": severity, "direction": direction,
              "thr_category": category, "contentver": "AppThreat-8921-9104",
              "http_method": method if v.get("app") == "web-browsing" else "",
              "user_agent": agent, "parent_session_id": "0", "tunnel": "N/A",
              "tunnelid": "0", "assoc_id": "0", "http2_connection": "0"})
    return v


def t(h, m, s, ms=0):
    return datetime(2026, 11, 24, h, m, s, ms * 1000, tzinfo=JST)


def combined(client, at, request, status, size, agent, host="web"):
    """An Apache combined access-log line (the web server's own log)."""
    return '%s - - [%s] "%s" %d %d "-" "%s"' % (
        client, at.strftime("%d/%b/%Y:%H:%M:%S %z"), request, status, size, agent)


def background(fw, h, m):
    """Two ordinary PC sessions (source NAT): what a firewall logs all the time."""
    session = 410000 + 100 * (h * 60 + m)
    return [
        fw.traffic(t(h, m, 3, 120), ended(
            outbound("10.1.20.31", 52311 + m, "52.109.8.21", 443, session + 31,
                     "198.51.100.2", 20311 + m, user="CITY\\yamada"),
            t(h, m - 1, 40), t(h, m, 3), 2231, 9811, 14, 12, "tcp-fin",
            "computer-and-internet-info")),
        fw.traffic(t(h, m, 17, 480), ended(
            outbound("10.1.20.44", 61022 + m, "13.107.42.14", 443, session + 45,
                     "198.51.100.2", 20390 + m, user="CITY\\kimura"),
            t(h, m - 1, 12), t(h, m, 17), 5120, 48213, 31, 40, "tcp-fin",
            "business-and-economy")),
    ]


ATTACKER = "203.0.113.45"
AGENT = "Mozilla/5.0 zgrab/0.x"
PATH_TRAVERSAL = "/cgi-bin/.%2e/.%2e/.%2e/.%2e/.%2e/bin/sh"
# PAN-OS syslog has no CVE column: these signature names carry the CVE in the name, as
# the content's names for many vulnerability signatures do (threat id in parentheses).
APACHE_RCE = "Apache HTTP Server Path Traversal Remote Code Execution Vulnerability (CVE-2021-41773)"
APACHE_RCE_ID = 91704


def exploit_blocked():
    """(1) Three tries of an Apache RCE against web01 (198.51.100.10), each reset by the
    firewall's vulnerability protection: the TRAFFIC rows end with reason `threat`."""
    fw = Firewall()
    web01 = "198.51.100.10"
    out = background(fw, 10, 14)
    tries = [(t(10, 15, 2, 311), 53114, 880101), (t(10, 15, 9, 804), 53160, 880117),
             (t(10, 16, 30, 52), 53402, 880244)]
    for at, sport, session in tries:
        s = inbound(ATTACKER, sport, web01, 80, session)
        out.append(fw.threat(at, "vulnerability", threat_values(
            s, "reset-both", web01 + PATH_TRAVERSAL, APACHE_RCE, APACHE_RCE_ID, "critical",
            "code-execution", "client-to-server", agent=AGENT)))
        out.append(fw.traffic(at + timedelta(milliseconds=40), ended(
            s, at - timedelta(seconds=1), at, 702, 66, 4, 1, "threat")))
    out += background(fw, 10, 21)
    return out


def exploit_callback():
    """(2) The same exploit against web02 (198.51.100.20) where the signature's action is
    alert: the session goes on, the server sends 49 kB and its access log says 200; 22
    minutes later web02 opens a Cobalt Strike beacon channel to 203.0.113.200."""
    fw = Firewall()
    web02 = "198.51.100.20"
    out = background(fw, 10, 39)
    at = t(10, 40, 11, 215)
    s = inbound(ATTACKER, 55872, web02, 80, 881502)
    out.append(fw.threat(at, "vulnerability", threat_values(
        s, "alert", web02 + PATH_TRAVERSAL, APACHE_RCE, APACHE_RCE_ID, "critical",
        "code-execution", "client-to-server", agent=AGENT)))
    out.append(combined(ATTACKER, t(10, 40, 11), "POST %s HTTP/1.1" % PATH_TRAVERSAL, 200,
                        49131, AGENT))
    out.append(fw.traffic(t(10, 40, 12, 90), ended(
        s, t(10, 40, 11), t(10, 40, 12), 1384, 49511, 9, 37, "tcp-fin")))
    c2 = "203.0.113.200"
    at = t(11, 2, 37, 660)
    s = outbound(web02, 41822, c2, 443, 882733, "", "", app="ssl", rule="allow-dmz-out",
                 zone="dmz")
    out.append(fw.threat(at, "spyware", threat_values(
        s, "alert", "", "Cobalt Strike Beacon Command and Control Traffic Detection", 86453,
        "critical", "spyware", "client-to-server")))
    out.append(fw.traffic(t(11, 3, 40, 200), ended(
        s, t(11, 2, 37), t(11, 3, 40), 18344, 6120, 61, 44, "tcp-rst-from-server",
        "unknown")))
    out += background(fw, 11, 4)
    return out


def exploit_callback_ti():
    """(2b) The callback without a C2 signature: the exploit (from another attacker,
    203.0.113.46) against web03 (198.51.100.21) is answered with 38 kB; 41 minutes later web03
    opens an ordinary HTTPS session to 203.0.113.201, an address the city's threat
    intelligence lists (exploit_callback_ti.indicators.txt, imported with `koban ti import`)."""
    fw = Firewall()
    web03 = "198.51.100.21"
    out = background(fw, 15, 29)
    at = t(15, 30, 44, 902)
    s = inbound("203.0.113.46", 44120, web03, 80, 884411)
    out.append(fw.threat(at, "vulnerability", threat_values(
        s, "alert", web03 + PATH_TRAVERSAL, APACHE_RCE, APACHE_RCE_ID, "critical",
        "code-execution", "client-to-server", agent=AGENT)))
    out.append(fw.traffic(t(15, 30, 46, 15), ended(
        s, t(15, 30, 44), t(15, 30, 46), 1290, 38604, 8, 30, "tcp-fin")))
    s = outbound(web03, 50312, "203.0.113.201", 443, 885102, "", "", app="ssl",
                 rule="allow-dmz-out", zone="dmz")
    out.append(fw.traffic(t(16, 12, 9, 331), ended(
        s, t(16, 11, 58), t(16, 12, 9), 4410, 15873, 21, 19, "tcp-fin", "unknown")))
    out += background(fw, 16, 13)
    return out


INDICATORS = """# the city's threat intelligence: C2 servers seen in the prefecture's reports
203.0.113.201  # C2 of the web-shell campaign
"""

SIGNIN_TENANT = "7c1e5b2a-3f4d-4e6a-9b8c-2d1f0e9a8b7c"


def signin(at, n, user, display, ip, code, city="Tokyo", country="JP",
           app="Office 365 Exchange Online", reason=""):
    """One Entra ID sign-in record as a diagnostic setting exports it (category SignInLogs)."""
    when = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    rid = "5b0e%04x-8c1d-4f2e-9a3b-%012x" % (n, 0xc17a00000000 + n)
    failure = "Other." if code == 0 else reason
    return json.dumps({
        "time": when,
        "resourceId": "/tenants/%s/providers/Microsoft.aadiam" % SIGNIN_TENANT,
        "operationName": "Sign-in activity", "operationVersion": "1.0",
        "category": "SignInLogs", "tenantId": SIGNIN_TENANT,
        "resultType": str(code), "resultSignature": "None",
        "resultDescription": reason, "durationMs": 0, "callerIpAddress": ip,
        "correlationId": rid, "identity": display, "Level": 4,
        "location": country,
        "properties": {
            "id": rid, "createdDateTime": when, "userDisplayName": display,
            "userPrincipalName": user, "userId": "a3f1%04x-2b7c-4d8e-9f01-23456789abcd" % len(user),
            "appId": "00000002-0000-0ff1-ce00-000000000000", "appDisplayName": app,
            "ipAddress": ip, "clientAppUsed": "Browser", "isInteractive": True,
            "userType": "Member", "authenticationRequirement": "singleFactorAuthentication",
            "status": {"errorCode": code, "failureReason": failure},
            "location": {"city": city, "state": city, "countryOrRegion": country},
            "deviceDetail": {"operatingSystem": "Windows10", "browser": "Chrome 131.0.0"},
        }}, ensure_ascii=False)


def entra_bruteforce():
    """(3) 12 wrong passwords for sato@ within six minutes from one address abroad, then a
    success from the same address: the password was guessed. Other users sign in as usual."""
    user, name, ip = "sato@city-c.example.jp", "佐藤 健", "203.0.113.77"
    bad = "Error validating credentials due to invalid username or password."
    out = [signin(t(8, 51, 4), 1, "ito@city-c.example.jp", "伊藤 美咲", "198.51.100.2", 0),
           signin(t(8, 55, 40), 2, "sato@city-c.example.jp", name, "198.51.100.2", 0)]
    for i in range(12):
        at = t(9, 0, 5) + timedelta(seconds=31 * i)
        out.append(signin(at, 10 + i, user, name, ip, 50126, city="Amsterdam", country="NL",
                          reason=bad))
    out.append(signin(t(9, 7, 12), 30, "suzuki@city-c.example.jp", "鈴木 一郎", "198.51.100.2",
                      0))
    out.append(signin(t(9, 8, 3), 31, user, name, ip, 0, city="Amsterdam", country="NL"))
    return out


GRAPH_TENANT = "2b9d7f1e-6c3a-4b5d-8e9f-0a1b2c3d4e5f"


def graph_alert(n, at, severity, title, description, device, ip, user, category, techniques,
                threat, threat_evidence):
    """A Graph security alert (alerts_v2) of Defender for Endpoint. As Defender writes them,
    the device and the user are evidence whose remediationStatus is "none" whatever happened
    to the threat; threat_evidence (a file or process) says what Defender did about it."""
    created = at.astimezone(timezone.utc)
    iso = created.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    aid = "da63870%013d_-%d" % (n, n)
    threat_evidence = dict(threat_evidence, createdDateTime=iso, roles=[])
    return json.dumps({
        "@odata.type": "#microsoft.graph.security.alert",
        "id": aid, "providerAlertId": aid, "incidentId": str(900 + n),
        "status": "new", "severity": severity, "classification": None,
        "determination": None, "serviceSource": "microsoftDefenderForEndpoint",
        "detectionSource": "microsoftDefenderForEndpoint",
        "productName": "Microsoft Defender for Endpoint",
        "detectorId": "8b3c1d2e-0000-4000-8000-%012d" % n, "tenantId": GRAPH_TENANT,
        "title": title, "description": description,
        "recommendedActions": "Isolate the device and collect an investigation package.",
        "category": category, "assignedTo": None,
        "alertWebUrl": "https://security.microsoft.com/alerts/%s?tid=%s" % (aid, GRAPH_TENANT),
        "incidentWebUrl": "https://security.microsoft.com/incidents/%d?tid=%s" % (
            900 + n, GRAPH_TENANT),
        "threatDisplayName": threat, "threatFamilyName": threat.split("/")[-1].split("!")[0],
        "mitreTechniques": techniques,
        "createdDateTime": iso, "lastUpdateDateTime": iso, "resolvedDateTime": None,
        "firstActivityDateTime": (created - timedelta(minutes=3)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "lastActivityDateTime": (created - timedelta(seconds=20)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "comments": [], "systemTags": [],
        "evidence": [
            {"@odata.type": "#microsoft.graph.security.deviceEvidence", "createdDateTime": iso,
             "verdict": "malicious", "remediationStatus": "none", "roles": ["compromised"],
             "detectionStatus": None,
             "mdeDeviceId": "4f2a%036x" % n, "deviceDnsName": device + ".city-d.local",
             "osPlatform": "Windows11", "healthStatus": "active", "riskScore": "high",
             "ipInterfaces": [ip], "loggedOnUsers": [{"accountName": user,
                                                      "domainName": "CITY-D"}]},
            threat_evidence,
            {"@odata.type": "#microsoft.graph.security.userEvidence", "createdDateTime": iso,
             "verdict": "suspicious", "remediationStatus": "none", "roles": [],
             "userAccount": {"accountName": user, "domainName": "CITY-D",
                             "userPrincipalName": user + "@city-d.example.jp"}},
        ]}, ensure_ascii=False)


def defender_active():
    """(4) Defender for Endpoint on PC-KOSEKI-07: a Cobalt Strike beacon, high severity, the
    process not remediated (still running). Earlier the same morning, on PC-ZEIMU-03, a medium
    alert whose downloaded file antivirus quarantined (the file evidence says remediated)."""
    dropped = {"@odata.type": "#microsoft.graph.security.fileEvidence",
               "verdict": "malicious", "remediationStatus": "remediated",
               "detectionStatus": "detected",
               "fileDetails": {"fileName": "invoice_2026-11.pdf.exe",
                               "filePath": "C:\\Users\\takahashi\\Downloads",
                               "sha256": "9f3c" + "0" * 56 + "a1b2"}}
    beacon = {"@odata.type": "#microsoft.graph.security.processEvidence",
              "verdict": "malicious", "remediationStatus": "none",
              "detectionStatus": "detected", "processId": 6014,
              "processCommandLine": "rundll32.exe C:\\Users\\nakamura\\AppData\\Local\\"
                                    "Temp\\upd2.dll,StartW",
              "imageFile": {"fileName": "rundll32.exe", "filePath": "C:\\Windows\\System32"}}
    return [
        graph_alert(1, t(8, 12, 40), "medium", "Suspicious file dropped and removed",
                    "A suspicious file was downloaded and quarantined by antivirus.",
                    "PC-ZEIMU-03", "10.4.12.33", "takahashi", "Malware", ["T1204.002"],
                    "Trojan:Win32/Wacatac.B!ml", dropped),
        graph_alert(2, t(13, 27, 5), "high", "'CobaltStrike' malware was detected and is active",
                    "A Cobalt Strike beacon was detected in the memory of a running process "
                    "and could not be remediated.",
                    "PC-KOSEKI-07", "10.4.20.17", "nakamura", "CommandAndControl",
                    ["T1071.001", "T1055"], "Backdoor:Win64/CobaltStrike!MTB", beacon),
    ]


def exploit_not_vulnerable():
    """(5) The Apache RCE against web05 (198.51.100.30), which runs nginx (the asset
    inventory says so and lists no CVE of Apache): the signature only alerted, the request
    was answered 404 with 196 bytes."""
    fw = Firewall()
    web05 = "198.51.100.30"
    out = background(fw, 14, 4)
    at = t(14, 5, 48, 377)
    s = inbound(ATTACKER, 60118, web05, 80, 883190)
    out.append(fw.threat(at, "vulnerability", threat_values(
        s, "alert", web05 + PATH_TRAVERSAL, APACHE_RCE, APACHE_RCE_ID, "critical",
        "code-execution", "client-to-server", agent=AGENT)))
    out.append(combined(ATTACKER, t(14, 5, 48), "POST %s HTTP/1.1" % PATH_TRAVERSAL, 404,
                        196, AGENT))
    out.append(fw.traffic(t(14, 5, 48, 610), ended(
        s, t(14, 5, 48), t(14, 5, 48), 702, 512, 5, 4, "tcp-fin")))
    out += background(fw, 14, 9)
    return out


ASSETS = """name,hostnames,addresses,owner,criticality,role,software,cves
web05,web05.city-e.example.jp,198.51.100.30,情報政策課 Web担当,high,server,"nginx 1.24.0; OpenSSL 3.0.13",CVE-2023-44487
web06,web06.city-e.example.jp,198.51.100.31,情報政策課 Web担当,medium,server,Apache HTTP Server 2.4.62,
"""


def main():
    sets = {"exploit_blocked.log": exploit_blocked(),
            "exploit_callback.log": exploit_callback(),
            "exploit_callback_ti.log": exploit_callback_ti(),
            "entra_bruteforce.log": entra_bruteforce(),
            "defender_active.log": defender_active(),
            "exploit_not_vulnerable.log": exploit_not_vulnerable()}
    for name, lines in sets.items():
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
    with open(os.path.join(HERE, "exploit_callback_ti.indicators.txt"), "w",
              encoding="utf-8") as f:
        f.write(INDICATORS)
    with open(os.path.join(HERE, "exploit_not_vulnerable.assets.csv"), "w",
              encoding="utf-8") as f:
        f.write(ASSETS)


if __name__ == "__main__":
    main()
