/* k8s.c - pool.discovery.kubernetes: list-then-watch Pods through the Kubernetes API server.
 *
 *   pool:
 *     discovery:
 *       kubernetes:
 *         inferencePool: my-pool           InferencePool (inference.networking.k8s.io/v1) whose
 *                                          spec.selector and spec.targetPorts are used; or
 *         selector: {app: vllm}            a label selector (matchLabels) with
 *         targetPorts: [8000]              the ports (one endpoint per ready pod and port)
 *         namespace: llm                   default: $POD_NAMESPACE, else the service
 *                                          account's namespace file
 *         apiServer: https://10.0.0.1:443  default: KUBERNETES_SERVICE_HOST/PORT (in-cluster)
 *         tokenFile / caFile               default: the service account's token and CA
 *         insecureSkipVerify: false
 *         labels: {llm-d.ai/role: decode}  added to every endpoint (optional; wins over the
 *                                          object's own label of the same key)
 *
 *   or, instead of Pods, the EndpointSlices (discovery.k8s.io/v1) of one or more Services:
 *         service: vllm                    (or a list) slices labelled kubernetes.io/service-name
 *         portNames: [http]                optional: the slices' ports of these names; else
 *                                          targetPorts' numbers when given; else every TCP port
 *     An endpoint is an EndpointSlice endpoint whose conditions.ready is not false (absent =
 *     ready, as the API says), first address, per selected port; its labels are the slice's
 *     (the EndpointSlice controller copies the Service's labels onto its slices, so roles come
 *     from the Service: one Service per role) plus `labels`. Pod labels are not read in this
 *     mode (no extra requests, no pods RBAC). llm-d's EPP watches Pods; this is an option.
 *
 *   watch thread:  [GET InferencePool] -> GET pods?labelSelector  (list: the whole set, its
 *                  resourceVersion) -> GET pods?watch=1&resourceVersion=RV&allowWatchBookmarks
 *                  (chunked stream of JSON events, one per line): ADDED / MODIFIED / DELETED
 *                  update the pod map, BOOKMARK moves RV, ERROR 410 (Gone) or a 410 status
 *                  relists; a stream that ends resumes from the last RV (after reading the
 *                  InferencePool again: a changed selector or targetPorts relists); errors
 *                  back off (0.5 s doubling to 30 s).
 *   ready pod:     status.podIP set, phase Running, condition Ready=True, no deletionTimestamp;
 *                  each gives podIP:port per target port, with the pod's labels.
 *   members:       a Pod or an EndpointSlice, keyed by name, holds the endpoint addresses it
 *                  gives now (computed when its event is applied) and their labels; the
 *                  published set is the union, sorted, an address given twice counted once
 *                  (an endpoint moving between slices).
 *   control loop:  the thread publishes the sorted endpoint set under a mutex and wakes the
 *                  loop (uv_async); the loop calls the discovery callback when the set changed.
 *
 * The HTTP client is a small blocking HTTP/1.1 one (TLS via OpenSSL) on the thread's own socket;
 * sy_k8s_stop shuts the socket down to end a blocking read, then joins.
 */
#include "discovery/k8s.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#define SA_DIR       "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_PORTS    8
#define MAX_PODS     4096
#define MAX_LINE     (8u << 20) /* one watch event */
#define MAX_SELECTOR 2048
#define MAX_EXTRA    32
#define MAX_SERVICES 16

/* A Pod or an EndpointSlice (owned strings). */
struct member {
    char *name;
    char **addrs; /* "ip:port" it gives while ready */
    size_t naddrs;
    struct sy_label *labels;
    size_t nlabels;
};

struct sy_k8s {
    uv_loop_t *loop;
    uv_async_t wake;
    pthread_t thread;
    pthread_mutex_t mu;
    _Atomic bool stop;
    _Atomic int fd; /* current socket, -1 none */
    sy_discovery_cb *cb;
    void *ud;
    /* settings */
    char scheme_tls;
    char host[256];
    char port[8];
    char ns[256];
    char pool_name[256];
    char selector[MAX_SELECTOR]; /* labelSelector query value (URL-encoded) */
    uint16_t ports[MAX_PORTS];
    size_t nports;
    bool slices;                 /* EndpointSlices of services, not Pods */
    char *port_names[MAX_PORTS]; /* slices: ports by name (owned) */
    size_t nport_names;
    struct sy_label extra[MAX_EXTRA]; /* labels: added to every endpoint (owned) */
    size_t nextra;
    char *token_file;
    char *ca_file;
    bool insecure;
    /* state (thread) */
    struct member *pods; /* Pods or EndpointSlices */
    size_t npods;
    char rv[128];
    SSL_CTX *tls;
    /* published set (under mu) */
    struct sy_endpoint_config *pub;
    size_t npub;
    bool have_pub;
};

/* ---- settings ---- */

static int bad(char *err, size_t errcap, const struct sy_yaml_node *n, const char *key,
               const char *what)
{
    char d[96];
    return sy_yaml_errf(err, errcap, n, "pool.discovery.kubernetes.%s: expected %s, got %s", key,
                        what, sy_yaml_describe(n, d, sizeof d));
}

static void url_escape(struct sy_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || c == '/')
            sy_buf_append(b, s, 1);
        else
            sy_buf_printf(b, "%%%02X", c);
    }
}

/* A Service name (RFC 1035 label): lowercase letters, digits and inner '-', at most 63. */
static bool service_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static int parse(struct sy_k8s *k, const struct sy_yaml_node *node, char *err, size_t errcap)
{
    if (!node || node->type != SY_YAML_MAPPING)
        return sy_yaml_errf(err, errcap, node, "pool.discovery.kubernetes: expected a mapping");
    const struct sy_yaml_node *sel = NULL, *ports = NULL, *pool = NULL, *svc = NULL;
    const char *api = NULL;
    for (size_t i = 0; i < node->n; i++) {
        const char *key = node->keys[i]->scalar;
        const struct sy_yaml_node *v = node->items[i];
        const char *s = sy_yaml_str(v);
        if (sy_yaml_is_null(v))
            continue;
        if (strcmp(key, "inferencePool") == 0) {
            if (!s || !s[0] || strlen(s) >= sizeof k->pool_name)
                return bad(err, errcap, v, key, "an InferencePool name");
            pool = v;
        } else if (strcmp(key, "selector") == 0) {
            if (v->type != SY_YAML_MAPPING || v->n == 0)
                return bad(err, errcap, v, key, "a mapping of labels (matchLabels)");
            sel = v;
        } else if (strcmp(key, "targetPorts") == 0) {
            if (v->type != SY_YAML_SEQUENCE || v->n == 0 || v->n > MAX_PORTS)
                return bad(err, errcap, v, key, "a list of 1 to 8 ports");
            ports = v;
        } else if (strcmp(key, "namespace") == 0) {
            if (!s || !s[0] || strlen(s) >= sizeof k->ns)
                return bad(err, errcap, v, key, "a namespace");
            snprintf(k->ns, sizeof k->ns, "%s", s);
        } else if (strcmp(key, "apiServer") == 0) {
            if (!s || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0))
                return bad(err, errcap, v, key, "an https:// (or http://) URL");
            api = s;
        } else if (strcmp(key, "tokenFile") == 0 || strcmp(key, "caFile") == 0) {
            if (!s || !s[0])
                return bad(err, errcap, v, key, "a file path");
            char **dst = key[0] == 't' ? &k->token_file : &k->ca_file;
            free(*dst);
            *dst = sy_xstrdup(s);
        } else if (strcmp(key, "insecureSkipVerify") == 0) {
            if (!s || sy_parse_bool(s, &k->insecure) != 0)
                return bad(err, errcap, v, key, "true or false");
        } else if (strcmp(key, "service") == 0) {
            if (v->type == SY_YAML_SEQUENCE ? v->n == 0 || v->n > MAX_SERVICES : !s || !s[0])
                return bad(err, errcap, v, key, "a Service name or a list of 1 to 16");
            for (size_t j = 0; v->type == SY_YAML_SEQUENCE && j < v->n; j++)
                if (!service_name_ok(sy_yaml_str(v->items[j])))
                    return bad(err, errcap, v->items[j], key, "a Service name");
            if (v->type != SY_YAML_SEQUENCE && !service_name_ok(s))
                return bad(err, errcap, v, key, "a Service name");
            svc = v;
        } else if (strcmp(key, "portNames") == 0) {
            if (v->type != SY_YAML_SEQUENCE || v->n == 0 || v->n > MAX_PORTS)
                return bad(err, errcap, v, key, "a list of 1 to 8 port names");
            for (size_t j = 0; j < v->n; j++) {
                const char *n = sy_yaml_str(v->items[j]);
                if (!n || !n[0] || strlen(n) > 63)
                    return bad(err, errcap, v->items[j], key, "a port name");
                k->port_names[k->nport_names++] = sy_xstrdup(n);
            }
        } else if (strcmp(key, "labels") == 0) {
            if (v->type != SY_YAML_MAPPING || v->n > MAX_EXTRA)
                return bad(err, errcap, v, key, "a mapping of at most 32 labels");
            for (size_t j = 0; j < v->n; j++) {
                const char *lv = sy_yaml_str(v->items[j]);
                if (!lv)
                    return bad(err, errcap, v->items[j], key, "a label value");
                k->extra[k->nextra].key = sy_xstrdup(v->keys[j]->scalar);
                k->extra[k->nextra++].value = sy_xstrdup(lv);
            }
        } else {
            return sy_yaml_errf(err, errcap, node->keys[i],
                                "pool.discovery.kubernetes.%s: unknown key", key);
        }
    }
    if (svc && (pool || sel))
        return sy_yaml_errf(err, errcap, svc,
                            "pool.discovery.kubernetes.service: watches a Service's "
                            "EndpointSlices; not with inferencePool or selector (which select "
                            "Pods)");
    if (!svc && !pool == !sel)
        return sy_yaml_errf(err, errcap, node,
                            "pool.discovery.kubernetes: set either inferencePool or selector "
                            "(with targetPorts), or service (EndpointSlices)");
    if (k->nport_names && !svc)
        return sy_yaml_errf(err, errcap, node,
                            "pool.discovery.kubernetes.portNames: only with service "
                            "(EndpointSlices name their ports; Pods are given targetPorts)");
    if (svc) {
        /* kubernetes.io/service-name=NAME, or kubernetes.io/service-name in (A,B) */
        k->slices = true;
        struct sy_buf b;
        sy_buf_init(&b);
        if (svc->type == SY_YAML_SEQUENCE) {
            sy_buf_puts(&b, "kubernetes.io/service-name in (");
            for (size_t i = 0; i < svc->n; i++)
                sy_buf_printf(&b, "%s%s", i ? "," : "", sy_yaml_str(svc->items[i]));
            sy_buf_puts(&b, ")");
        } else {
            sy_buf_printf(&b, "kubernetes.io/service-name=%s", svc->scalar);
        }
        struct sy_buf e;
        sy_buf_init(&e);
        url_escape(&e, b.data);
        snprintf(k->selector, sizeof k->selector, "%s", e.data);
        sy_buf_fini(&b);
        sy_buf_fini(&e);
    }
    if (sel && !ports)
        return sy_yaml_errf(err, errcap, node,
                            "pool.discovery.kubernetes.targetPorts: required with selector");
    if (pool)
        snprintf(k->pool_name, sizeof k->pool_name, "%s", pool->scalar);
    if (sel) {
        struct sy_buf b;
        sy_buf_init(&b);
        for (size_t i = 0; i < sel->n; i++) {
            const char *lv = sy_yaml_str(sel->items[i]);
            if (!lv) {
                sy_buf_fini(&b);
                return bad(err, errcap, sel->items[i], "selector", "a label value");
            }
            char kv[600];
            snprintf(kv, sizeof kv, "%s%s=%s", i ? "," : "", sel->keys[i]->scalar, lv);
            url_escape(&b, kv);
        }
        snprintf(k->selector, sizeof k->selector, "%s", b.data ? b.data : "");
        sy_buf_fini(&b);
    }
    for (size_t i = 0; ports && i < ports->n; i++) {
        uint64_t p;
        const char *s = sy_yaml_str(ports->items[i]);
        if (!s || sy_parse_u64(s, 1, 65535, &p) != 0)
            return bad(err, errcap, ports->items[i], "targetPorts", "a port 1..65535");
        k->ports[k->nports++] = (uint16_t)p;
    }
    /* API server: the URL, else the in-cluster environment */
    if (api) {
        bool tls = strncmp(api, "https://", 8) == 0;
        const char *h = api + (tls ? 8 : 7);
        k->scheme_tls = tls;
        char hp[256];
        snprintf(hp, sizeof hp, "%s", h);
        char *slash = strchr(hp, '/');
        if (slash)
            *slash = '\0';
        char *colon = strrchr(hp, ':');
        if (colon && !strchr(colon, ']')) {
            *colon = '\0';
            snprintf(k->port, sizeof k->port, "%s", colon + 1);
        } else {
            snprintf(k->port, sizeof k->port, "%s", tls ? "443" : "80");
        }
        snprintf(k->host, sizeof k->host, "%s", hp[0] == '[' ? hp + 1 : hp);
        char *rb = strchr(k->host, ']');
        if (rb)
            *rb = '\0';
    } else {
        const char *h = getenv("KUBERNETES_SERVICE_HOST"), *p = getenv("KUBERNETES_SERVICE_PORT");
        if (!h || !p)
            return sy_yaml_errf(err, errcap, node,
                                "pool.discovery.kubernetes.apiServer: not set and not running "
                                "in a cluster (KUBERNETES_SERVICE_HOST is unset)");
        k->scheme_tls = 1;
        snprintf(k->host, sizeof k->host, "%s", h);
        snprintf(k->port, sizeof k->port, "%s", p);
    }
    if (!k->ns[0] && getenv("POD_NAMESPACE") && getenv("POD_NAMESPACE")[0])
        snprintf(k->ns, sizeof k->ns, "%s", getenv("POD_NAMESPACE")); /* downward API */
    if (!k->ns[0]) {
        FILE *f = fopen(SA_DIR "/namespace", "r");
        if (!f || !fgets(k->ns, sizeof k->ns, f)) {
            if (f)
                fclose(f);
            return sy_yaml_errf(err, errcap, node,
                                "pool.discovery.kubernetes.namespace: not set and "
                                "%s/namespace is unreadable",
                                SA_DIR);
        }
        fclose(f);
        k->ns[strcspn(k->ns, "\r\n")] = '\0';
    }
    if (!k->token_file && access(SA_DIR "/token", R_OK) == 0)
        k->token_file = sy_xstrdup(SA_DIR "/token");
    if (!k->ca_file && k->scheme_tls && access(SA_DIR "/ca.crt", R_OK) == 0)
        k->ca_file = sy_xstrdup(SA_DIR "/ca.crt");
    return 0;
}

/* Frees what a member gives (addresses, labels); keeps its name. */
static void member_reset(struct member *m)
{
    for (size_t j = 0; j < m->naddrs; j++)
        free(m->addrs[j]);
    free(m->addrs);
    m->addrs = NULL;
    m->naddrs = 0;
    for (size_t j = 0; j < m->nlabels; j++) {
        free(m->labels[j].key);
        free(m->labels[j].value);
    }
    free(m->labels);
    m->labels = NULL;
    m->nlabels = 0;
}

static void pods_clear(struct sy_k8s *k)
{
    for (size_t i = 0; i < k->npods; i++) {
        member_reset(&k->pods[i]);
        free(k->pods[i].name);
    }
    k->npods = 0;
}

static void k8s_free(struct sy_k8s *k)
{
    pods_clear(k);
    free(k->pods);
    for (size_t i = 0; i < k->nport_names; i++)
        free(k->port_names[i]);
    for (size_t i = 0; i < k->nextra; i++) {
        free(k->extra[i].key);
        free(k->extra[i].value);
    }
    free(k->token_file);
    free(k->ca_file);
    if (k->tls)
        SSL_CTX_free(k->tls);
    sy_discovery_free_eps(k->pub, k->npub);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

int sy_k8s_check(const struct sy_yaml_node *node, char *err, size_t errcap)
{
    struct sy_k8s *k = sy_xcalloc(1, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    int rc = parse(k, node, err, errcap);
    k8s_free(k);
    return rc ? SY_ECONFIG : 0;
}

/* ---- a blocking HTTP/1.1 exchange ---- */

struct conn {
    struct sy_k8s *k;
    int fd;
    SSL *ssl;
    char buf[16384];
    size_t off, len;
};

static void conn_close(struct conn *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0) {
        atomic_store(&c->k->fd, -1);
        close(c->fd);
    }
    c->fd = -1;
}

static int conn_open(struct conn *c, char *err, size_t errcap)
{
    struct sy_k8s *k = c->k;
    c->fd = -1;
    c->ssl = NULL;
    c->off = c->len = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(k->host, k->port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errcap, "%s: %s", k->host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, errcap, "connect %s:%s: %s", k->host, k->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct timeval tv = {.tv_sec = 330}; /* the watch's timeoutSeconds plus a margin */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c->fd = fd;
    atomic_store(&k->fd, fd);
    if (atomic_load(&k->stop)) {
        conn_close(c);
        return -1;
    }
    if (k->scheme_tls) {
        c->ssl = SSL_new(k->tls);
        SSL_set_fd(c->ssl, fd);
        unsigned char ipbuf[16];
        bool is_ip =
            inet_pton(AF_INET, k->host, ipbuf) == 1 || inet_pton(AF_INET6, k->host, ipbuf) == 1;
        if (!is_ip) /* SNI carries names only */
            SSL_set_tlsext_host_name(c->ssl, k->host);
        if (!k->insecure) {
            /* in-cluster, the API server is an IP (KUBERNETES_SERVICE_HOST): match IP SANs */
            if (is_ip)
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), k->host);
            else
                SSL_set1_host(c->ssl, k->host);
        }
        if (SSL_connect(c->ssl) != 1) {
            char e[200];
            ERR_error_string_n(ERR_get_error(), e, sizeof e);
            snprintf(err, errcap, "TLS to %s:%s: %s", k->host, k->port, e);
            conn_close(c);
            return -1;
        }
    }
    return 0;
}

static int conn_write(struct conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = c->ssl ? SSL_write(c->ssl, p, (int)n) : send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fill(struct conn *c)
{
    if (c->off < c->len)
        return 0;
    ssize_t r =
        c->ssl ? SSL_read(c->ssl, c->buf, sizeof c->buf) : recv(c->fd, c->buf, sizeof c->buf, 0);
    if (r <= 0)
        return -1;
    c->off = 0;
    c->len = (size_t)r;
    return 0;
}

/* Reads one CRLF-terminated line (without it) into out. */
static int read_line(struct conn *c, struct sy_buf *out, size_t max)
{
    sy_buf_reset(out);
    for (;;) {
        if (fill(c) != 0)
            return -1;
        char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
        size_t n = nl ? (size_t)(nl - (c->buf + c->off)) : c->len - c->off;
        sy_buf_append(out, c->buf + c->off, n);
        c->off += n + (nl ? 1 : 0);
        if (out->len > max)
            return -1;
        if (nl) {
            if (out->len && out->data[out->len - 1] == '\r')
                out->data[--out->len] = '\0';
            return 0;
        }
    }
}

static int read_n(struct conn *c, struct sy_buf *out, size_t n)
{
    while (n) {
        if (fill(c) != 0)
            return -1;
        size_t take = c->len - c->off < n ? c->len - c->off : n;
        sy_buf_append(out, c->buf + c->off, take);
        c->off += take;
        n -= take;
    }
    return 0;
}

struct resp {
    int status;
    bool chunked;
    long long clen;
};

static int send_get(struct conn *c, const char *path, struct resp *r, char *err, size_t errcap)
{
    struct sy_k8s *k = c->k;
    struct sy_buf req;
    sy_buf_init(&req);
    sy_buf_printf(&req,
                  "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
                  "User-Agent: switchyard\r\n",
                  path, k->host);
    if (k->token_file) {
        FILE *f = fopen(k->token_file, "r"); /* re-read: projected tokens rotate */
        char tok[8192];
        if (f && fgets(tok, sizeof tok, f)) {
            tok[strcspn(tok, "\r\n")] = '\0';
            sy_buf_printf(&req, "Authorization: Bearer %s\r\n", tok);
        }
        if (f)
            fclose(f);
    }
    sy_buf_puts(&req, "\r\n");
    int rc = conn_write(c, req.data, req.len);
    sy_buf_fini(&req);
    if (rc != 0) {
        snprintf(err, errcap, "write: %s", strerror(errno));
        return -1;
    }
    struct sy_buf line;
    sy_buf_init(&line);
    memset(r, 0, sizeof *r);
    r->clen = -1;
    if (read_line(c, &line, 8192) != 0 ||
        sscanf(line.data ? line.data : "", "HTTP/1.%*d %d", &r->status) != 1) {
        snprintf(err, errcap, "no HTTP response from the API server");
        sy_buf_fini(&line);
        return -1;
    }
    for (;;) {
        if (read_line(c, &line, 65536) != 0) {
            snprintf(err, errcap, "truncated response head");
            sy_buf_fini(&line);
            return -1;
        }
        if (line.len == 0)
            break;
        if (strncasecmp(line.data, "transfer-encoding:", 18) == 0 &&
            strcasestr(line.data, "chunked"))
            r->chunked = true;
        else if (strncasecmp(line.data, "content-length:", 15) == 0)
            r->clen = strtoll(line.data + 15, NULL, 10);
    }
    sy_buf_fini(&line);
    return 0;
}

/* Reads a whole body (bounded). */
static int read_body(struct conn *c, const struct resp *r, struct sy_buf *body)
{
    struct sy_buf line;
    sy_buf_init(&line);
    int rc = 0;
    if (r->chunked) {
        for (;;) {
            if (read_line(c, &line, 64) != 0) {
                rc = -1;
                break;
            }
            long long n = strtoll(line.data ? line.data : "", NULL, 16);
            if (n < 0 || body->len + (size_t)n > (64u << 20)) {
                rc = -1;
                break;
            }
            if (n == 0) {
                read_line(c, &line, 64);
                break;
            }
            if (read_n(c, body, (size_t)n) != 0 || read_line(c, &line, 8) != 0) {
                rc = -1;
                break;
            }
        }
    } else if (r->clen >= 0 && r->clen <= (64ll << 20)) {
        rc = read_n(c, body, (size_t)r->clen);
    } else {
        rc = -1;
    }
    sy_buf_fini(&line);
    return rc;
}

/* ---- members: pods and endpoint slices ---- */

/* The member named by obj's metadata.name: found, added (NULL at capacity), or removed
 * (deleted: NULL). */
static struct member *member_for(struct sy_k8s *k, const cJSON *obj, bool deleted)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
    if (!name)
        return NULL;
    size_t i = 0;
    while (i < k->npods && strcmp(k->pods[i].name, name) != 0)
        i++;
    if (deleted) {
        if (i < k->npods) {
            member_reset(&k->pods[i]);
            free(k->pods[i].name);
            k->pods[i] = k->pods[--k->npods];
        }
        return NULL;
    }
    if (i == k->npods) {
        if (k->npods >= MAX_PODS)
            return NULL;
        memset(&k->pods[k->npods], 0, sizeof k->pods[0]);
        k->pods[k->npods++].name = sy_xstrdup(name);
    }
    member_reset(&k->pods[i]);
    return &k->pods[i];
}

static void add_addr(struct member *m, const char *ip, unsigned port)
{
    char a[300];
    if (strchr(ip, ':'))
        snprintf(a, sizeof a, "[%s]:%u", ip, port);
    else
        snprintf(a, sizeof a, "%s:%u", ip, port);
    m->addrs = sy_xrealloc(m->addrs, (m->naddrs + 1) * sizeof *m->addrs);
    m->addrs[m->naddrs++] = sy_xstrdup(a);
}

/* The object's labels (at most 64), then the configured ones (which replace a same key). */
static void set_labels(struct sy_k8s *k, struct member *m, const cJSON *labels)
{
    int nl = cJSON_GetArraySize(labels);
    if (nl > 64)
        nl = 64;
    m->labels = sy_xcalloc((size_t)nl + k->nextra + 1, sizeof *m->labels);
    const cJSON *l;
    cJSON_ArrayForEach(l, labels)
    {
        if (m->nlabels >= (size_t)nl || !cJSON_IsString(l))
            continue;
        bool over = false;
        for (size_t e = 0; e < k->nextra && !over; e++)
            over = strcmp(k->extra[e].key, l->string) == 0;
        if (over)
            continue;
        m->labels[m->nlabels].key = sy_xstrdup(l->string);
        m->labels[m->nlabels].value = sy_xstrdup(l->valuestring);
        m->nlabels++;
    }
    for (size_t e = 0; e < k->nextra; e++) {
        m->labels[m->nlabels].key = sy_xstrdup(k->extra[e].key);
        m->labels[m->nlabels].value = sy_xstrdup(k->extra[e].value);
        m->nlabels++;
    }
}

static void pod_apply(struct sy_k8s *k, const cJSON *obj, bool deleted)
{
    struct member *m = member_for(k, obj, deleted);
    if (!m)
        return;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    const char *ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "podIP"));
    const char *phase = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "phase"));
    bool ready = false;
    const cJSON *cond;
    cJSON_ArrayForEach(cond, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
    {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "type"));
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "status"));
        if (t && s && strcmp(t, "Ready") == 0)
            ready = strcmp(s, "True") == 0;
    }
    ready = ready && ip && ip[0] && strlen(ip) < 64 && phase && strcmp(phase, "Running") == 0 &&
            !cJSON_GetObjectItemCaseSensitive(md, "deletionTimestamp");
    for (size_t j = 0; ready && j < k->nports; j++)
        add_addr(m, ip, k->ports[j]);
    set_labels(k, m, cJSON_GetObjectItemCaseSensitive(md, "labels"));
}

/* Whether a slice port is one of ours: by name (portNames), else by number (targetPorts), else
 * any TCP port. */
static bool slice_port_wanted(const struct sy_k8s *k, const cJSON *p, unsigned *num)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(p, "port");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
    const char *proto = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "protocol"));
    if (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > 65535 ||
        (proto && strcmp(proto, "TCP") != 0))
        return false;
    *num = (unsigned)n->valuedouble;
    if (k->nport_names) {
        for (size_t i = 0; i < k->nport_names; i++)
            if (strcmp(k->port_names[i], name ? name : "") == 0)
                return true;
        return false;
    }
    if (k->nports) {
        for (size_t i = 0; i < k->nports; i++)
            if (k->ports[i] == *num)
                return true;
        return false;
    }
    return true;
}

static void slice_apply(struct sy_k8s *k, const cJSON *obj, bool deleted)
{
    struct member *m = member_for(k, obj, deleted);
    if (!m)
        return;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    set_labels(k, m, cJSON_GetObjectItemCaseSensitive(md, "labels"));
    const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "addressType"));
    if (!at || (strcmp(at, "IPv4") != 0 && strcmp(at, "IPv6") != 0))
        return; /* FQDN slices name hosts, not endpoints */
    unsigned ports[MAX_PORTS];
    size_t np = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(obj, "ports"))
    {
        unsigned num;
        if (np < MAX_PORTS && slice_port_wanted(k, p, &num))
            ports[np++] = num;
    }
    const cJSON *ep;
    cJSON_ArrayForEach(ep, cJSON_GetObjectItemCaseSensitive(obj, "endpoints"))
    {
        const cJSON *cond = cJSON_GetObjectItemCaseSensitive(ep, "conditions");
        const cJSON *ready = cJSON_GetObjectItemCaseSensitive(cond, "ready");
        const cJSON *term = cJSON_GetObjectItemCaseSensitive(cond, "terminating");
        if (cJSON_IsFalse(ready) || cJSON_IsTrue(term)) /* ready absent: unknown = ready */
            continue;
        const char *ip = cJSON_GetStringValue(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ep, "addresses"), 0));
        if (!ip || !ip[0] || strlen(ip) >= 64)
            continue;
        for (size_t j = 0; j < np; j++)
            add_addr(m, ip, ports[j]);
    }
}

static void member_apply(struct sy_k8s *k, const cJSON *obj, bool deleted)
{
    if (k->slices)
        slice_apply(k, obj, deleted);
    else
        pod_apply(k, obj, deleted);
}

struct given {
    const char *addr;
    const struct member *m;
};

static int cmp_given(const void *a, const void *b)
{
    return strcmp(((const struct given *)a)->addr, ((const struct given *)b)->addr);
}

/* Publishes the ready endpoints to the loop: the members' addresses, sorted, each once. */
static void publish(struct sy_k8s *k)
{
    size_t cap = 0;
    for (size_t i = 0; i < k->npods; i++)
        cap += k->pods[i].naddrs;
    struct given *g = sy_xcalloc(cap ? cap : 1, sizeof *g);
    size_t n = 0;
    for (size_t i = 0; i < k->npods; i++)
        for (size_t j = 0; j < k->pods[i].naddrs; j++)
            g[n++] = (struct given){k->pods[i].addrs[j], &k->pods[i]};
    qsort(g, n, sizeof *g, cmp_given);
    struct sy_endpoint_config *eps = sy_xcalloc(n ? n : 1, sizeof *eps);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(g[i - 1].addr, g[i].addr) == 0)
            continue; /* the same endpoint in two slices (moving between them) */
        const struct member *p = g[i].m;
        struct sy_endpoint_config *e = &eps[out++];
        e->address = sy_xstrdup(g[i].addr);
        e->rank = -1; /* one endpoint per address, not a multi-port entry's rank */
        sy_parse_hostport(e->address, e->host, sizeof e->host, &e->port);
        e->labels = sy_xcalloc(p->nlabels + 1, sizeof *e->labels);
        for (size_t m = 0; m < p->nlabels; m++) {
            e->labels[m].key = sy_xstrdup(p->labels[m].key);
            e->labels[m].value = sy_xstrdup(p->labels[m].value);
        }
        e->nlabels = p->nlabels;
    }
    free(g);
    pthread_mutex_lock(&k->mu);
    sy_discovery_free_eps(k->pub, k->npub);
    k->pub = eps;
    k->npub = out;
    k->have_pub = true;
    pthread_mutex_unlock(&k->mu);
    if (k->loop) /* offline (tests): no loop to wake */
        uv_async_send(&k->wake);
}

/* ---- the watch thread ---- */

static int get_json(struct sy_k8s *k, const char *path, cJSON **out, int *status, char *err,
                    size_t errcap)
{
    struct conn c = {.k = k, .fd = -1};
    if (conn_open(&c, err, errcap) != 0)
        return -1;
    struct resp r;
    struct sy_buf body;
    sy_buf_init(&body);
    int rc = send_get(&c, path, &r, err, errcap);
    if (rc == 0 && read_body(&c, &r, &body) != 0) {
        snprintf(err, errcap, "GET %s: truncated body", path);
        rc = -1;
    }
    conn_close(&c);
    *status = r.status;
    if (rc == 0 && r.status != 200) {
        snprintf(err, errcap, "GET %s: HTTP %d: %.200s", path, r.status,
                 body.data ? body.data : "");
        rc = -1;
    }
    if (rc == 0 && !(*out = cJSON_ParseWithLength(body.data ? body.data : "", body.len))) {
        snprintf(err, errcap, "GET %s: the answer is not JSON", path);
        rc = -1;
    }
    sy_buf_fini(&body);
    return rc;
}

/* Reads the InferencePool's selector and ports. */
static int read_pool(struct sy_k8s *k, char *err, size_t errcap)
{
    char path[700];
    snprintf(path, sizeof path,
             "/apis/inference.networking.k8s.io/v1/namespaces/%s/inferencepools/%s", k->ns,
             k->pool_name);
    cJSON *j = NULL;
    int status;
    if (get_json(k, path, &j, &status, err, errcap) != 0)
        return -1;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(j, "spec");
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(spec, "selector");
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(sel, "matchLabels");
    if (!ml) /* v1alpha2 had a flat map */
        ml = sel;
    struct sy_buf b;
    sy_buf_init(&b);
    const cJSON *l;
    int i = 0;
    cJSON_ArrayForEach(l, ml)
    {
        if (!cJSON_IsString(l))
            continue;
        char kv[600];
        snprintf(kv, sizeof kv, "%s%s=%s", i++ ? "," : "", l->string, l->valuestring);
        url_escape(&b, kv);
    }
    snprintf(k->selector, sizeof k->selector, "%s", b.data ? b.data : "");
    sy_buf_fini(&b);
    k->nports = 0;
    const cJSON *tp;
    cJSON_ArrayForEach(tp, cJSON_GetObjectItemCaseSensitive(spec, "targetPorts"))
    {
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(tp, "number");
        if (cJSON_IsNumber(num) && num->valuedouble >= 1 && num->valuedouble <= 65535 &&
            k->nports < MAX_PORTS)
            k->ports[k->nports++] = (uint16_t)num->valuedouble;
    }
    cJSON_Delete(j);
    if (!k->selector[0] || k->nports == 0) {
        snprintf(err, errcap, "InferencePool %.100s/%.100s has no selector or no targetPorts",
                 k->ns, k->pool_name);
        return -1;
    }
    return 0;
}

/* The collection watched: Pods, or EndpointSlices. */
static void coll_path(const struct sy_k8s *k, char *out, size_t cap)
{
    if (k->slices)
        snprintf(out, cap, "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices", k->ns);
    else
        snprintf(out, cap, "/api/v1/namespaces/%s/pods", k->ns);
}

static int list_pods(struct sy_k8s *k, char *err, size_t errcap)
{
    char path[3000], coll[400];
    coll_path(k, coll, sizeof coll);
    snprintf(path, sizeof path, "%s?labelSelector=%s", coll, k->selector);
    cJSON *j = NULL;
    int status;
    if (get_json(k, path, &j, &status, err, errcap) != 0)
        return -1;
    pods_clear(k);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "items")) member_apply(k, it, false);
    const char *rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "metadata"), "resourceVersion"));
    snprintf(k->rv, sizeof k->rv, "%s", rv ? rv : "");
    cJSON_Delete(j);
    publish(k);
    return 0;
}

/* Watches from k->rv. Returns 0 when the stream ended normally (resume), 1 when a relist is
 * needed (410 Gone), -1 on error. */
static int watch(struct sy_k8s *k, char *err, size_t errcap)
{
    char path[3200], coll[400];
    coll_path(k, coll, sizeof coll);
    snprintf(path, sizeof path,
             "%s?labelSelector=%s&watch=1&resourceVersion=%s"
             "&allowWatchBookmarks=true&timeoutSeconds=300",
             coll, k->selector, k->rv);
    struct conn c = {.k = k, .fd = -1};
    if (conn_open(&c, err, errcap) != 0)
        return -1;
    struct resp r;
    if (send_get(&c, path, &r, err, errcap) != 0) {
        conn_close(&c);
        return -1;
    }
    if (r.status == 410) {
        conn_close(&c);
        return 1;
    }
    if (r.status != 200 || !r.chunked) {
        snprintf(err, errcap, "watch: HTTP %d%s", r.status,
                 r.chunked ? "" : " (not a chunked stream)");
        conn_close(&c);
        return -1;
    }
    /* chunked framing; events are newline-separated JSON objects across chunks */
    struct sy_buf line, ev;
    sy_buf_init(&line);
    sy_buf_init(&ev);
    int rc = 0;
    while (!atomic_load(&k->stop)) {
        if (read_line(&c, &line, 64) != 0) {
            rc = atomic_load(&k->stop) ? 0 : -1;
            snprintf(err, errcap, "watch stream broke");
            break;
        }
        long long n = strtoll(line.data ? line.data : "", NULL, 16);
        if (n <= 0)
            break; /* the server ended the watch (timeoutSeconds): resume */
        if (ev.len + (size_t)n > MAX_LINE || read_n(&c, &ev, (size_t)n) != 0 ||
            read_line(&c, &line, 8) != 0) {
            rc = -1;
            snprintf(err, errcap, "watch stream broke");
            break;
        }
        char *nl;
        bool changed = false;
        while (rc == 0 && ev.len && (nl = memchr(ev.data, '\n', ev.len))) {
            size_t len = (size_t)(nl - ev.data);
            cJSON *j = cJSON_ParseWithLength(ev.data, len);
            sy_buf_consume(&ev, len + 1);
            if (!j)
                continue;
            const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "type"));
            const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "object");
            const char *rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion"));
            if (type && strcmp(type, "ERROR") == 0) {
                const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
                rc = cJSON_IsNumber(code) && code->valuedouble == 410 ? 1 : -1;
                snprintf(err, errcap, "watch error event");
            } else if (type && (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0 ||
                                strcmp(type, "DELETED") == 0)) {
                member_apply(k, obj, type[0] == 'D');
                changed = true;
            }
            if (rc == 0 && rv)
                snprintf(k->rv, sizeof k->rv, "%s", rv); /* BOOKMARK too */
            cJSON_Delete(j);
        }
        if (changed)
            publish(k);
        if (rc != 0)
            break;
    }
    sy_buf_fini(&line);
    sy_buf_fini(&ev);
    conn_close(&c);
    return rc;
}

/* When a watch ends (timeoutSeconds), the InferencePool is read again: a changed selector or
 * targetPorts means a relist under the new spec. A failed read keeps the current spec. */
static bool pool_changed(struct sy_k8s *k)
{
    char sel[MAX_SELECTOR];
    uint16_t ports[MAX_PORTS];
    size_t nports = k->nports;
    memcpy(sel, k->selector, sizeof sel);
    memcpy(ports, k->ports, sizeof ports);
    char err[512];
    if (read_pool(k, err, sizeof err) != 0) {
        if (!atomic_load(&k->stop))
            sy_warn("discovery: kubernetes: %s (keeping the current pool spec)", err);
        memcpy(k->selector, sel, sizeof sel);
        memcpy(k->ports, ports, sizeof ports);
        k->nports = nports;
        return false;
    }
    return strcmp(sel, k->selector) != 0 || nports != k->nports ||
           memcmp(ports, k->ports, nports * sizeof ports[0]) != 0;
}

static void backoff(struct sy_k8s *k, unsigned *ms)
{
    for (unsigned t = 0; t < *ms && !atomic_load(&k->stop); t += 50)
        usleep(50000);
    *ms = *ms * 2 > 30000 ? 30000 : *ms * 2;
}

static void *thread_main(void *arg)
{
    struct sy_k8s *k = arg;
    char err[512];
    unsigned delay = 500;
    bool listed = false;
    while (!atomic_load(&k->stop)) {
        if (!listed) {
            if ((k->pool_name[0] && read_pool(k, err, sizeof err) != 0) ||
                list_pods(k, err, sizeof err) != 0) {
                if (!atomic_load(&k->stop))
                    sy_warn("discovery: kubernetes: %s (retrying in %u ms)", err, delay);
                backoff(k, &delay);
                continue;
            }
            listed = true;
            delay = 500;
        }
        int rc = watch(k, err, sizeof err);
        if (atomic_load(&k->stop))
            break;
        if (rc == 1) {
            sy_info("discovery: kubernetes: resourceVersion %s is gone (410); relisting", k->rv);
            listed = false;
        } else if (rc < 0) {
            sy_warn("discovery: kubernetes: %s (resuming from %s in %u ms)", err, k->rv, delay);
            backoff(k, &delay);
        } else {
            delay = 500;
            if (k->pool_name[0] && pool_changed(k)) {
                sy_info("discovery: kubernetes: InferencePool %s/%s changed; relisting", k->ns,
                        k->pool_name);
                listed = false;
            }
        }
    }
    return NULL;
}

/* ---- loop side ---- */

static void on_wake(uv_async_t *a)
{
    struct sy_k8s *k = a->data;
    pthread_mutex_lock(&k->mu);
    if (!k->have_pub) {
        pthread_mutex_unlock(&k->mu);
        return;
    }
    struct sy_endpoint_config *eps = k->pub;
    size_t n = k->npub;
    k->pub = NULL;
    k->npub = 0;
    k->have_pub = false;
    pthread_mutex_unlock(&k->mu);
    if (!atomic_load(&k->stop))
        k->cb(k->ud, eps, n);
    sy_discovery_free_eps(eps, n);
}

struct sy_k8s *sy_k8s_start(uv_loop_t *loop, const struct sy_yaml_node *node, sy_discovery_cb *cb,
                            void *ud, char *err, size_t errcap)
{
    struct sy_k8s *k = sy_xcalloc(1, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    atomic_init(&k->fd, -1);
    if (parse(k, node, err, errcap) != 0) {
        k8s_free(k);
        return NULL;
    }
    if (k->scheme_tls) {
        k->tls = SSL_CTX_new(TLS_client_method());
        if (k->insecure) {
            SSL_CTX_set_verify(k->tls, SSL_VERIFY_NONE, NULL);
        } else {
            SSL_CTX_set_verify(k->tls, SSL_VERIFY_PEER, NULL);
            if (k->ca_file ? SSL_CTX_load_verify_locations(k->tls, k->ca_file, NULL) != 1
                           : SSL_CTX_set_default_verify_paths(k->tls) != 1) {
                snprintf(err, errcap, "pool.discovery.kubernetes.caFile: cannot load %s",
                         k->ca_file ? k->ca_file : "the system CA store");
                k8s_free(k);
                return NULL;
            }
        }
    }
    k->pods = sy_xcalloc(MAX_PODS, sizeof *k->pods);
    k->loop = loop;
    k->cb = cb;
    k->ud = ud;
    uv_async_init(loop, &k->wake, on_wake);
    k->wake.data = k;
    pthread_create(&k->thread, NULL, thread_main, k);
    return k;
}

static void wake_closed(uv_handle_t *h)
{
    k8s_free(h->data);
}

void sy_k8s_stop(struct sy_k8s *k)
{
    if (!k)
        return;
    atomic_store(&k->stop, true);
    int fd = atomic_load(&k->fd);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    pthread_join(k->thread, NULL);
    uv_close((uv_handle_t *)&k->wake, wake_closed);
}

/* ---- offline (unit tests) ---- */

struct sy_k8s *sy_k8s_offline(const struct sy_yaml_node *node, char *err, size_t errcap)
{
    struct sy_k8s *k = sy_xcalloc(1, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    atomic_init(&k->fd, -1);
    if (parse(k, node, err, errcap) != 0) {
        k8s_free(k);
        return NULL;
    }
    k->pods = sy_xcalloc(MAX_PODS, sizeof *k->pods);
    return k;
}

void sy_k8s_apply_json(struct sy_k8s *k, const char *obj, bool deleted)
{
    cJSON *j = cJSON_Parse(obj);
    if (j)
        member_apply(k, j, deleted);
    cJSON_Delete(j);
    publish(k);
}

struct sy_endpoint_config *sy_k8s_endpoints(struct sy_k8s *k, size_t *n)
{
    struct sy_endpoint_config *eps = k->pub;
    *n = k->npub;
    k->pub = NULL;
    k->npub = 0;
    k->have_pub = false;
    return eps;
}

void sy_k8s_offline_free(struct sy_k8s *k)
{
    if (k)
        k8s_free(k);
}
