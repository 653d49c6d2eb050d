#!/usr/bin/env python3
"""The Paho Python side of `bench --compare` (paho-mqtt 2.x, VERSION2 callbacks).

    python3 paho_bench.py pub HOST PORT COUNT QOS PAYLOAD INFLIGHT
    python3 paho_bench.py sub HOST PORT COUNT QOS TOPIC

pub: connects, publishes COUNT messages of PAYLOAD bytes at QOS to a topic
nobody subscribes to, and stops the clock when the last one is acknowledged
(QoS 0: written), like the Rust publish scenario. At most 30,000 messages are
left unacknowledged (Paho's message ids are 16-bit too).

sub: subscribes to TOPIC at QOS, prints "ready" once the SUBACK is in, then
counts messages until COUNT have arrived.

Both print one JSON line: msg/s (pub only: the Rust side times sub runs
itself, from starting the publisher) and CPU microseconds per message, from
time.process_time() (user+sys of the whole Python process, every thread).
"""

import collections
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


def connected_client(host, port, inflight=None):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if inflight is not None:
        client.max_inflight_messages_set(inflight)
    ready = threading.Event()
    client.on_connect = lambda c, userdata, flags, rc, props: ready.set()
    client.connect(host, port, 60)
    client.loop_start()
    if not ready.wait(10):
        sys.exit("paho_bench: no CONNACK within 10 s")
    return client


def pub(host, port, count, qos, size, inflight):
    client = connected_client(host, port, inflight)
    payload = b"x" * size
    backlog = collections.deque()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(count):
        backlog.append(client.publish("bench/paho", payload, qos))
        if len(backlog) > 30000:
            backlog.popleft().wait_for_publish(120)
    for info in backlog:
        info.wait_for_publish(120)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(json.dumps({
        "msg_per_s": count / elapsed,
        "cpu_us_per_msg": cpu * 1e6 / count,
        "seconds": elapsed,
    }), flush=True)
    client.disconnect()
    client.loop_stop()


def sub(host, port, count, qos, topic):
    client = connected_client(host, port)
    done = threading.Event()
    subscribed = threading.Event()
    received = [0]

    def on_message(c, userdata, msg):
        received[0] += 1
        if received[0] == count:
            done.set()

    client.on_message = on_message
    client.on_subscribe = lambda c, userdata, mid, codes, props: subscribed.set()
    client.subscribe(topic, qos)
    if not subscribed.wait(10):
        sys.exit("paho_bench: no SUBACK within 10 s")
    cpu0 = time.process_time()
    print("ready", flush=True)
    if not done.wait(120):
        sys.exit(f"paho_bench: only {received[0]} of {count} messages in 120 s")
    cpu = time.process_time() - cpu0
    print(json.dumps({"cpu_us_per_msg": cpu * 1e6 / count}), flush=True)
    client.disconnect()
    client.loop_stop()


def main():
    mode, host, port, count, qos = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    if mode == "pub":
        pub(host, port, count, qos, int(sys.argv[6]), int(sys.argv[7]))
    elif mode == "sub":
        sub(host, port, count, qos, sys.argv[6])
    else:
        sys.exit(f"paho_bench: unknown mode {mode}")


if __name__ == "__main__":
    main()
