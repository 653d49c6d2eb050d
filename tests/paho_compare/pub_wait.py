"""Publish three messages at QoS 0, 1 and 2 and wait for each with
wait_for_publish(). Usage: pub_wait.py HOST PORT CLIENT_ID

Ported line by line to Rust as examples/compare_pub_wait.rs; the test
tests/paho_compare.rs runs both against one Mosquitto and compares what they
print and what Mosquitto receives. Every printed line is deterministic.
"""

import sys
import threading

import paho.mqtt.client as mqtt

host, port, client_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
topic = "compare/" + client_id + "/pub"

connected = threading.Event()
# on_publish runs on the loop thread, at a moment that races with the main
# thread's prints (for QoS 0, right after the write): record, print at the end.
published = []
published_lock = threading.Lock()


def on_connect(client, userdata, flags, reason_code, properties):
    print(f"on_connect: session_present={flags.session_present} "
          f"reason_code={reason_code} ({reason_code.value}) "
          f"properties_empty={properties.isEmpty()}")
    connected.set()


def on_publish(client, userdata, mid, reason_code, properties):
    with published_lock:
        userdata.append(f"on_publish: mid={mid} reason_code={reason_code} "
                        f"({reason_code.value}) properties_empty={properties.isEmpty()}")


def on_disconnect(client, userdata, flags, reason_code, properties):
    print(f"on_disconnect: from_server={flags.is_disconnect_packet_from_server} "
          f"reason_code={reason_code} ({reason_code.value})")


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, userdata=published)
mqttc.on_connect = on_connect
mqttc.on_publish = on_publish
mqttc.on_disconnect = on_disconnect

rc = mqttc.connect(host, port, 60)
print(f"connect: rc={rc.value}")
mqttc.loop_start()
if not connected.wait(10):
    sys.exit("no CONNACK within 10 s")

for qos in (0, 1, 2):
    msg_info = mqttc.publish(topic, f"message at qos {qos}", qos=qos)
    print(f"publish qos {qos}: mid={msg_info.mid} rc={msg_info.rc.value} str={msg_info}")
    msg_info.wait_for_publish(10)
    print(f"wait_for_publish mid={msg_info.mid}: is_published={msg_info.is_published()}")

# disconnect()'s rc is not printed: with loop_start(), Paho 2.2 returns
# MQTT_ERR_NO_CONN (4) instead of MQTT_ERR_SUCCESS about every other run,
# although it sends the DISCONNECT. The loop thread writes it, closes, and its
# _thread_main sets self._thread = None before _packet_queue() (still in
# disconnect() on this thread) tests `self._thread is None`, so it calls
# loop_write() on the closed socket.
mqttc.disconnect()
mqttc.loop_stop()
with published_lock:
    for line in published:
        print(line)
print("done")
