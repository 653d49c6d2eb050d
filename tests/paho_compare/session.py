"""Connect with clean_session=False, subscribe, disconnect, reconnect: the
second CONNACK says the broker kept the session. Usage: session.py HOST PORT
CLIENT_ID. Ported line by line to Rust as examples/compare_session.rs.
"""

import sys
import threading

import paho.mqtt.client as mqtt

host, port, client_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]

connected = threading.Event()
subscribed = threading.Event()


def on_connect(client, userdata, flags, reason_code, properties):
    print(f"on_connect: session_present={flags.session_present} reason_code={reason_code}")
    connected.set()


def on_subscribe(client, userdata, mid, reason_code_list, properties):
    print(f"on_subscribe: mid={mid} reason_codes={[str(rc) for rc in reason_code_list]}")
    subscribed.set()


def on_disconnect(client, userdata, flags, reason_code, properties):
    print(f"on_disconnect: reason_code={reason_code}")


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
mqttc.on_connect = on_connect
mqttc.on_subscribe = on_subscribe
mqttc.on_disconnect = on_disconnect

for attempt in (1, 2):
    connected.clear()
    if attempt == 1:
        mqttc.connect(host, port, 60)
    else:
        rc = mqttc.reconnect()
        print(f"reconnect: rc={rc.value}")
    mqttc.loop_start()
    if not connected.wait(10):
        sys.exit("no CONNACK within 10 s")
    print(f"connection {attempt}: is_connected={mqttc.is_connected()}")
    if attempt == 1:
        result, mid = mqttc.subscribe("compare/" + client_id + "/session", 1)
        if not subscribed.wait(10):
            sys.exit("no SUBACK within 10 s")
        # Printed after on_subscribe's line: printed at once, it would race
        # with the loop thread's.
        print(f"subscribe: result={result.value} mid={mid}")
    mqttc.disconnect()
    mqttc.loop_stop()
    print(f"after disconnect {attempt}: is_connected={mqttc.is_connected()}")
print("done")
