"""Subscribe in on_connect, print what arrives, disconnect after 4 messages.
Usage: sub.py HOST PORT CLIENT_ID

The messages come from the client itself, one at a time so that their order
is fixed: on_connect publishes a retained message (QoS 1) before it
subscribes, so the subscription delivers it; each message received then
publishes the next (QoS 0, then 2, then 1) until the fourth, which
disconnects. Ported line by line to Rust as examples/compare_sub.rs.
"""

import sys

import paho.mqtt.client as mqtt

host, port, client_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
prefix = "compare/" + client_id
# (topic, payload, qos) published after the n-th message received.
CHAIN = [
    (prefix + "/one", "first", 0),
    (prefix + "/two", "second", 2),
    (prefix + "/three", "third", 1),
]
COUNT = len(CHAIN) + 1


def on_connect(client, userdata, flags, reason_code, properties):
    print(f"on_connect: session_present={flags.session_present} reason_code={reason_code}")
    msg_info = client.publish(prefix + "/retained", "kept", qos=1, retain=True)
    print(f"publish retained: mid={msg_info.mid}")
    result, mid = client.subscribe([(prefix + "/#", 2), (prefix + "/never", 0)])
    print(f"subscribe: result={result.value} mid={mid}")


def on_subscribe(client, userdata, mid, reason_code_list, properties):
    codes = ", ".join(f"{rc} ({rc.value})" for rc in reason_code_list)
    print(f"on_subscribe: mid={mid} reason_codes=[{codes}]")


def on_message(client, userdata, message):
    userdata.append(message)
    print(f"on_message {len(userdata)}: topic={message.topic} qos={message.qos} "
          f"retain={message.retain} payload={message.payload.decode()}")
    if len(userdata) < COUNT:
        topic, payload, qos = CHAIN[len(userdata) - 1]
        msg_info = client.publish(topic, payload, qos=qos)
        print(f"publish {payload}: mid={msg_info.mid}")
    else:
        print(f"received {COUNT} messages, disconnecting")
        client.disconnect()


def on_disconnect(client, userdata, flags, reason_code, properties):
    print(f"on_disconnect: reason_code={reason_code}")


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, userdata=[])
mqttc.on_connect = on_connect
mqttc.on_subscribe = on_subscribe
mqttc.on_message = on_message
mqttc.on_disconnect = on_disconnect

mqttc.connect(host, port, 60)
rc = mqttc.loop_forever()
print(f"loop_forever: rc={rc.value}")
