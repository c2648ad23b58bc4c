#!/usr/bin/env python3
"""Checks that Courier and PostGraphile answer W1 and W2 with the same data.

Usage: same_data.py COURIER_URL TOKEN PEER_URL IDS_FILE

W1 is the nested page of 50 orders, W2 one order by id (every id of
IDS_FILE, lines of "courier-global-id uuid"). Both answers are brought to
one shape: amounts as exact decimals (PostGraphile returns the stored minor
units), statuses upper-case (PostGraphile returns the stored text), and the
order's payment as Courier defines it (the newest payment that has not
failed). Lists keep their order. Exits 1 on the first difference.
"""

import json
import sys
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "workloads"
# Minor-unit exponents of the currencies that are not two places
# (domain::money's table).
EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}


def post(url, body, token=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            out = json.load(res)
    except urllib.error.HTTPError as e:
        sys.exit(f"{url} answered {e.code}: {e.read()[:500]!r}")
    if out.get("errors"):
        sys.exit(f"{url} answered with errors: {json.dumps(out['errors'])[:500]}")
    return out["data"]


def body(name, id_=None):
    text = (HERE / name).read_text()
    if id_ is not None:
        text = text.replace("%ID%", id_)
    return json.loads(text)


def courier_order(o):
    payment = o["payment"]
    return {
        "orderNumber": o["orderNumber"],
        "buyer": o["buyer"]["displayName"],
        "items": [i["name"] for i in o["items"]],
        "payment": None
        if payment is None
        else {
            "status": payment["status"],
            "amount": Decimal(payment["amount"]),
            "entries": [Decimal(e["amount"]) for e in payment["ledgerEntries"]],
        },
        "assignments": [
            {
                "status": a["status"],
                "agent": None if a["agent"] is None else (a["agent"]["agentCode"], a["agent"]["user"]["displayName"]),
            }
            for a in o["assignments"]
        ],
    }


def peer_order(o):
    scale = Decimal(10) ** -EXPONENTS.get(o["currency"], 2)
    money = lambda minor: Decimal(int(minor)) * scale  # noqa: E731
    live = [p for p in o["paymentsByOrderId"]["nodes"] if p["status"].upper() != "FAILED"]
    payment = live[-1] if live else None  # oldest first: the newest is last
    return {
        "orderNumber": o["orderNumber"],
        "buyer": o["userByBuyerId"]["displayName"],
        "items": [i["name"] for i in o["orderItemsByOrderId"]["nodes"]],
        "payment": None
        if payment is None
        else {
            "status": payment["status"].upper(),
            "amount": money(payment["amountMinor"]),
            "entries": [money(e["amountMinor"]) for e in payment["ledgerEntriesByPaymentId"]["nodes"]],
        },
        "assignments": [
            {
                "status": a["status"].upper(),
                "agent": None
                if a["deliveryAgentByAgentId"] is None
                else (a["deliveryAgentByAgentId"]["agentCode"], a["deliveryAgentByAgentId"]["userByUserId"]["displayName"]),
            }
            for a in o["shippingAssignmentsByOrderId"]["nodes"]
        ],
    }


def same(what, a, b):
    if a != b:
        print(f"DIFFERENT {what}:\n courier: {a}\n peer:    {b}", file=sys.stderr)
        sys.exit(1)


def main():
    courier, token, peer, ids_file = sys.argv[1:5]
    w1c = [courier_order(e["node"]) for e in post(courier, body("w1_courier.json"), token)["orders"]["edges"]]
    w1p = [peer_order(e["node"]) for e in post(peer, body("w1_peer.json"))["allOrders"]["edges"]]
    same("W1 length", len(w1c), len(w1p))
    for a, b in zip(w1c, w1p):
        same(f"W1 order {a['orderNumber']}", a, b)
    fields = sum(3 + len(o["items"]) + (3 + len(o["payment"]["entries"]) if o["payment"] else 0) + 3 * len(o["assignments"]) for o in w1c)
    print(f"W1: {len(w1c)} orders identical ({fields} values compared)")
    pairs = [line.split() for line in Path(ids_file).read_text().splitlines() if line.strip()]
    for gid, uuid in pairs:
        a = courier_order(post(courier, body("w2_courier.json", gid), token)["order"])
        b = peer_order(post(peer, body("w2_peer.json", uuid))["orderByRowId"])
        same(f"W2 order {uuid}", a, b)
    print(f"W2: {len(pairs)} orders by id identical")


if __name__ == "__main__":
    main()
