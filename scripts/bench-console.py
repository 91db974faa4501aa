#!/usr/bin/env python3
"""The management console on a large store: how long its charges pages take with N charges
already stored (default 1,000,000), measured over HTTP as a browser would ask for them.

    cargo build --release -p paymux
    scripts/bench-console.py [--charges 1000000] [--bin target/release/paymux] [--requests 50]

It creates a fresh SQLite data directory with `paymux init`, fills it with N paid and unpaid
charges spread over 90 days and the 14 channels (straight into SQLite, in one transaction:
the point is reading, not creating), adds an admin operator, starts `paymux serve`, signs in,
and times each page (p50, p99, max). The figures go in BENCHMARKS.md. Standard library only."""

import argparse
import http.cookiejar
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

CHANNELS = ["alipay_qr", "wx_pub_qr", "cb_alipay_qr", "cb_wx_pub_qr", "upacp_qr", "ccb_qr",
            "isv_qr", "isv_wap", "alipay_scan", "wx_pub_scan", "cb_alipay_scan",
            "cb_wx_pub_scan", "upacp_scan", "isv_scan"]
PASSWORD = "benchmark password"


def fill(db_path, account, app, count, now):
    conn = sqlite3.connect(db_path)
    rng = random.Random(7)
    started = time.monotonic()
    rows = []
    for n in range(count):
        created = now - rng.randrange(90 * 86400)
        paid = rng.random() < 0.7
        rows.append((
            "ch_bench%019d" % n, account, app, 0, created, CHANNELS[n % len(CHANNELS)],
            "bench%012d" % n, "127.0.0.1", 100 + n % 10000, "cny", "subject", "body",
            "{}", "{}", "{}", created + 7200, int(paid), created + 5 if paid else None,
            "simulated",
        ))
    conn.executemany(
        "INSERT INTO charges (id, account_id, app_id, livemode, created, channel, order_no, "
        "client_ip, amount, currency, subject, body, extra, metadata, credential, time_expire, "
        "paid, time_paid, provider) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--charges", type=int, default=1_000_000)
    parser.add_argument("--bin", default="target/release/paymux")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--port", type=int, default=18099)
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="paymux-console-bench-")
    creds = json.loads(subprocess.check_output([args.bin, "init", "--json", "--data-dir", data]))
    subprocess.run([args.bin, "operators", "add", "bench", "--role", "admin", "--password-stdin",
                    "--data-dir", data], input=PASSWORD + "\n", text=True, check=True,
                   capture_output=True)
    took = fill(os.path.join(data, "paymux.db"), creds["account"], creds["app_id"], args.charges,
                int(time.time()))
    print("stored %d charges in %.1f s" % (args.charges, took))

    base = "http://127.0.0.1:%d" % args.port
    server = subprocess.Popen([args.bin, "serve", "--data-dir", data, "--listen",
                               "127.0.0.1:%d" % args.port], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = urllib.parse.urlencode({"name": "bench", "password": PASSWORD}).encode()
        opener.open(base + "/dashboard/login", data=form)
        middle = "bench%012d" % (args.charges // 2)
        pages = [
            ("charges, newest page", "/dashboard/charges"),
            ("search by order_no", "/dashboard/charges?q=" + middle),
            ("search by id", "/dashboard/charges?q=ch_bench%019d" % (args.charges // 3)),
            ("filter channel + paid", "/dashboard/charges?channel=upacp_qr&status=paid"),
            ("filter unpaid + 30 days", "/dashboard/charges?status=unpaid&from=%s" %
             time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))),
            ("page 50 (cursor)", None),
            ("overview (today, 7 days)", "/dashboard/"),
        ]
        # A cursor 50 pages deep: the id of the 1000th newest charge.
        conn = sqlite3.connect(os.path.join(data, "paymux.db"))
        (deep,) = conn.execute("SELECT id FROM charges ORDER BY created DESC, id DESC "
                               "LIMIT 1 OFFSET 1000").fetchone()
        conn.close()
        print("| page | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|")
        for name, path in pages:
            path = path or "/dashboard/charges?after=" + deep
            times = []
            for _ in range(args.requests):
                started = time.monotonic()
                with opener.open(base + path) as response:
                    body = response.read()
                    assert response.status == 200, (path, response.status)
                times.append((time.monotonic() - started) * 1000)
            assert b"ch_bench" in body or path == "/dashboard/", path
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print("| %s | %.1f | %.1f | %.1f |" % (name, statistics.median(times), p99, times[-1]))
    finally:
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    sys.exit(main())
