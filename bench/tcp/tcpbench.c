/*
 * tcpbench: the load tool of bench/tcp/run.sh. Plain blocking sockets, one thread per connection, so the tool costs
 * the same against every target.
 *
 *   tcpbench server PORT                       echo server on 127.0.0.1:PORT
 *   tcpbench bulk PORT MEGABYTES               one connection: send MEGABYTES while reading the echo back;
 *                                              prints "bulk <bytes each way> <seconds>"
 *   tcpbench rr PORT CONNECTIONS SECONDS SIZE  CONNECTIONS connections each doing SIZE-byte request/response
 *                                              exchanges for SECONDS; prints "rr <exchanges> <seconds>"
 *   tcpbench opmsg PORT CONNECTIONS SECONDS    the same with MongoDB OP_MSG frames: each request is a `find` command
 *                                              (57 bytes) whose header's responseTo equals its requestID, so the echo
 *                                              server's copy is a well-formed reply to it; prints "rr <exchanges> <seconds>"
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t sent = write(fd, data, length);
        if (sent <= 0) return -1;
        data += sent;
        length -= (size_t)sent;
    }
    return 0;
}

static int read_exactly(int fd, char *data, size_t length) {
    while (length > 0) {
        ssize_t got = read(fd, data, length);
        if (got <= 0) return -1;
        data += got;
        length -= (size_t)got;
    }
    return 0;
}

static void *echo(void *arg) {
    int fd = (int)(long)arg;
    char *buffer = malloc(CHUNK);
    ssize_t got;
    while ((got = read(fd, buffer, CHUNK)) > 0) {
        if (write_all(fd, buffer, (size_t)got) != 0) break;
    }
    shutdown(fd, SHUT_WR);
    close(fd);
    free(buffer);
    return NULL;
}

static int serve(int port) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1024) != 0) {
        perror("bind/listen");
        return 1;
    }
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t thread;
        pthread_create(&thread, NULL, echo, (void *)(long)fd);
        pthread_detach(thread);
    }
}

struct bulk { int fd; long long bytes; };

static void *bulk_send(void *arg) {
    struct bulk *job = arg;
    char *buffer = malloc(CHUNK);
    memset(buffer, 'x', CHUNK);
    for (long long sent = 0; sent < job->bytes; sent += CHUNK) {
        long long left = job->bytes - sent;
        if (write_all(job->fd, buffer, (size_t)(left < CHUNK ? left : CHUNK)) != 0) break;
    }
    shutdown(job->fd, SHUT_WR);
    free(buffer);
    return NULL;
}

static int bulk(int port, long long megabytes) {
    struct bulk job = {.fd = connect_to(port), .bytes = megabytes * 1024 * 1024};
    char *buffer = malloc(CHUNK);
    double start = now();
    pthread_t sender;
    pthread_create(&sender, NULL, bulk_send, &job);
    long long received = 0;
    ssize_t got;
    while ((got = read(job.fd, buffer, CHUNK)) > 0) received += got;
    pthread_join(sender, NULL);
    double seconds = now() - start;
    if (received != job.bytes) {
        fprintf(stderr, "bulk: received %lld of %lld bytes\n", received, job.bytes);
        return 1;
    }
    printf("bulk %lld %.3f\n", received, seconds);
    return 0;
}

static atomic_llong exchanges;
static atomic_int stop;
struct rr { int port; int size; int opmsg; };

/* OP_MSG (opcode 2013): header, flagBits 0, one body section holding {find: "bench", $db: "bench"}. */
static const unsigned char op_msg_find[] = {
    57, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  0xdd, 0x07, 0, 0,
    0, 0, 0, 0,
    0,
    36, 0, 0, 0,
    0x02, 'f', 'i', 'n', 'd', 0, 6, 0, 0, 0, 'b', 'e', 'n', 'c', 'h', 0,
    0x02, '$', 'd', 'b', 0, 6, 0, 0, 0, 'b', 'e', 'n', 'c', 'h', 0,
    0,
};

static void put_int32(char *at, int value) {
    for (int i = 0; i < 4; i++) at[i] = (char)((unsigned)value >> (8 * i));
}

static void *rr_connection(void *arg) {
    struct rr *job = arg;
    int fd = connect_to(job->port);
    char *buffer = malloc((size_t)job->size);
    memset(buffer, 'r', (size_t)job->size);
    if (job->opmsg) memcpy(buffer, op_msg_find, sizeof op_msg_find);
    int request_id = 0;
    while (!atomic_load(&stop)) {
        if (job->opmsg) {
            request_id++;
            put_int32(buffer + 4, request_id);
            put_int32(buffer + 8, request_id);
        }
        if (write_all(fd, buffer, (size_t)job->size) != 0 || read_exactly(fd, buffer, (size_t)job->size) != 0) {
            fprintf(stderr, "rr: connection failed\n");
            exit(1);
        }
        atomic_fetch_add(&exchanges, 1);
    }
    close(fd);
    free(buffer);
    return NULL;
}

static int request_response(int port, int connections, double seconds, int size, int opmsg) {
    struct rr job = {.port = port, .size = size, .opmsg = opmsg};
    pthread_t *threads = calloc((size_t)connections, sizeof *threads);
    double start = now();
    for (int i = 0; i < connections; i++) pthread_create(&threads[i], NULL, rr_connection, &job);
    struct timespec wait = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&wait, NULL);
    atomic_store(&stop, 1);
    long long done = atomic_load(&exchanges);
    double elapsed = now() - start;
    for (int i = 0; i < connections; i++) pthread_join(threads[i], NULL);
    printf("rr %lld %.3f\n", done, elapsed);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "server") == 0) return serve(atoi(argv[2]));
    if (argc >= 4 && strcmp(argv[1], "bulk") == 0) return bulk(atoi(argv[2]), atoll(argv[3]));
    if (argc >= 6 && strcmp(argv[1], "rr") == 0) return request_response(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), atoi(argv[5]), 0);
    if (argc >= 5 && strcmp(argv[1], "opmsg") == 0)
        return request_response(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), (int)sizeof op_msg_find, 1);
    fprintf(stderr, "usage: tcpbench server PORT | bulk PORT MB | rr PORT CONNECTIONS SECONDS SIZE | opmsg PORT CONNECTIONS SECONDS\n");
    return 2;
}
