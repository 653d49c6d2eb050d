/*
 * The libmosquitto side of `bench --compare`: the C client, with the same
 * command line and JSON line as paho_bench.py, so the three clients are
 * measured the same way. The bench compiles it when libmosquitto's header
 * and a C compiler are there (apt install libmosquitto-dev).
 *
 *     mosq_bench pub HOST PORT COUNT QOS PAYLOAD INFLIGHT
 *     mosq_bench sub HOST PORT COUNT QOS TOPIC
 *     mosq_bench lines HOST PORT TOPIC QOS INFLIGHT < LINES
 *
 * pub: connects (MQTT 3.1.1), publishes COUNT messages of PAYLOAD bytes at
 * QOS with at most INFLIGHT in flight (max_inflight_messages_set), keeping
 * at most 30,000 unacknowledged (message ids are 16-bit), and stops the
 * clock when the last one is acknowledged (QoS 0: handed to the socket),
 * waiting for every on_publish. The clock starts at the first publish.
 *
 * sub: subscribes to TOPIC at QOS, prints "ready" once the SUBACK is in,
 * then counts messages in on_message (no output) until COUNT have arrived.
 *
 * lines: `pub -l` in C, for `bench --scenario pub-lines`: publishes each
 * line of standard input (without its newline) to TOPIC at QOS with at
 * most INFLIGHT in flight, keeping at most 30,000 unacknowledged as pub
 * does, and exits 0 once every on_publish has come; prints nothing (the
 * bench measures the process from outside, as it measures `pub`).
 *
 * pub and sub print one JSON line: msg/s (pub only) and CPU microseconds per
 * message (getrusage of the whole process, every thread).
 */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static volatile long acked;
static volatile long received;
static volatile int connected;
static volatile int subscribed;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec
        + u.ru_stime.tv_usec / 1e6;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    (void)obj;
    if (rc == 0) {
        connected = 1;
    }
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    (void)obj;
    (void)mid;
    __atomic_add_fetch(&acked, 1, __ATOMIC_SEQ_CST);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    (void)m;
    (void)obj;
    (void)mid;
    (void)n;
    (void)granted;
    subscribed = 1;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    (void)obj;
    (void)msg;
    __atomic_add_fetch(&received, 1, __ATOMIC_SEQ_CST);
}

static int wait_for(volatile int *flag, const char *what)
{
    for (int i = 0; i < 10000 && !*flag; i++) {
        usleep(1000);
    }
    if (!*flag) {
        fprintf(stderr, "mosq_bench: no %s within 10 s\n", what);
        return 0;
    }
    return 1;
}

static struct mosquitto *connected_client(const char *host, int port, int inflight)
{
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    if (!m) {
        fprintf(stderr, "mosq_bench: mosquitto_new failed\n");
        exit(1);
    }
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    if (inflight > 0) {
        mosquitto_max_inflight_messages_set(m, (unsigned int)inflight);
    }
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS
        || mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS || !wait_for(&connected, "CONNACK")) {
        fprintf(stderr, "mosq_bench: cannot connect to %s:%d\n", host, port);
        exit(1);
    }
    return m;
}

static int pub(const char *host, int port, long count, int qos, int size, int inflight)
{
    struct mosquitto *m = connected_client(host, port, inflight);
    char *payload = malloc((size_t)size);
    memset(payload, 'x', (size_t)size);
    double t0 = now(), c0 = cpu();
    for (long i = 0; i < count; i++) {
        while (i - __atomic_load_n(&acked, __ATOMIC_SEQ_CST) >= 30000) {
            usleep(100);
        }
        int rc = mosquitto_publish(m, NULL, "bench/mosq", size, payload, qos, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "mosq_bench: publish %ld failed: %s\n", i, mosquitto_strerror(rc));
            return 1;
        }
    }
    while (__atomic_load_n(&acked, __ATOMIC_SEQ_CST) < count) {
        usleep(50);
    }
    double elapsed = now() - t0, used = cpu() - c0;
    printf("{\"msg_per_s\":%.1f,\"cpu_us_per_msg\":%.4f,\"seconds\":%.4f}\n", count / elapsed,
        used * 1e6 / count, elapsed);
    fflush(stdout);
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    free(payload);
    return 0;
}

static int lines(const char *host, int port, const char *topic, int qos, int inflight)
{
    struct mosquitto *m = connected_client(host, port, inflight);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long sent = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n') {
            n--;
        }
        while (sent - __atomic_load_n(&acked, __ATOMIC_SEQ_CST) >= 30000) {
            usleep(100);
        }
        int rc = mosquitto_publish(m, NULL, topic, (int)n, line, qos, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "mosq_bench: line %ld failed: %s\n", sent + 1, mosquitto_strerror(rc));
            return 1;
        }
        sent++;
    }
    while (__atomic_load_n(&acked, __ATOMIC_SEQ_CST) < sent) {
        usleep(50);
    }
    free(line);
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    return 0;
}

static int sub(const char *host, int port, long count, int qos, const char *topic)
{
    struct mosquitto *m = connected_client(host, port, 0);
    mosquitto_subscribe(m, NULL, topic, qos);
    if (!wait_for(&subscribed, "SUBACK")) {
        return 1;
    }
    double c0 = cpu(), t0 = now();
    printf("ready\n");
    fflush(stdout);
    while (__atomic_load_n(&received, __ATOMIC_SEQ_CST) < count) {
        if (now() - t0 > 120) {
            fprintf(stderr, "mosq_bench: only %ld of %ld messages in 120 s\n", received, count);
            return 1;
        }
        usleep(200);
    }
    double used = cpu() - c0;
    printf("{\"cpu_us_per_msg\":%.4f}\n", used * 1e6 / count);
    fflush(stdout);
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "lines") == 0) {
        mosquitto_lib_init();
        int rc = lines(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]), atoi(argv[6]));
        mosquitto_lib_cleanup();
        return rc;
    }
    if (argc < 7) {
        fprintf(stderr, "usage: mosq_bench pub|sub HOST PORT COUNT QOS PAYLOAD INFLIGHT|TOPIC\n"
                        "       mosq_bench lines HOST PORT TOPIC QOS INFLIGHT < LINES\n");
        return 2;
    }
    mosquitto_lib_init();
    const char *host = argv[2];
    int port = atoi(argv[3]);
    long count = atol(argv[4]);
    int qos = atoi(argv[5]);
    int rc;
    if (strcmp(argv[1], "pub") == 0 && argc >= 8) {
        rc = pub(host, port, count, qos, atoi(argv[6]), atoi(argv[7]));
    } else if (strcmp(argv[1], "sub") == 0) {
        rc = sub(host, port, count, qos, argv[6]);
    } else {
        fprintf(stderr, "mosq_bench: unknown mode %s\n", argv[1]);
        rc = 2;
    }
    mosquitto_lib_cleanup();
    return rc;
}
