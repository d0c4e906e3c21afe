/* check_server_config.c - Check suite for server/config.c: defaults, env, flags, errors. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "suite.h"

static const char *const ENV_NAMES[] = {
    "LOSSD_LISTEN", "LOSSD_THREADS", "LOSSD_MAX_BODY", "LOSSD_QUEUE_DEPTH",
    "LOSSD_TIMEOUT", "LOSSD_DRAIN_TIMEOUT", "LOSSD_LOG_FORMAT", "LOSSD_CORS_ORIGINS"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof ENV_NAMES / sizeof ENV_NAMES[0]; i++)
        unsetenv(ENV_NAMES[i]);
}

/* Parse a NULL-terminated argument list (without the program name). */
static int parse(config *cfg, char *err, size_t errlen, ...)
{
    char *argv[32] = {"lossd"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    err[0] = '\0';
    return config_parse(cfg, argc, argv, err, errlen);
}

START_TEST(no_flags_give_the_documented_defaults)
{
    config cfg;
    char err[256];
    ck_assert_int_eq(parse(&cfg, err, sizeof err, NULL), 0);
    ck_assert_int_eq(cfg.action, CONFIG_RUN);
    ck_assert_str_eq(cfg.listen, "0.0.0.0:8080");
    ck_assert_uint_eq(cfg.port, 8080);
    ck_assert_int_eq(cfg.addr.ss_family, AF_INET);
    ck_assert_uint_ge(cfg.threads, 1);
    ck_assert_uint_eq(cfg.http_threads, cfg.threads < 8 ? cfg.threads : 8);
    ck_assert_uint_eq(cfg.max_body, 67108864);
    ck_assert_uint_eq(cfg.queue_depth, 1024);
    ck_assert_uint_eq(cfg.timeout, 30);
    ck_assert_uint_eq(cfg.drain_timeout, 20);
    ck_assert_int_eq(cfg.log_format, LOG_PLAIN);
}
END_TEST

START_TEST(flags_both_forms)
{
    config cfg;
    char err[256];
    int rc = parse(&cfg, err, sizeof err, "--listen", "127.0.0.1:9000", "--threads=3",
                   "--http-threads", "5", "--max-body", "1024", "--queue-depth=7", "--timeout", "5",
                   "--drain-timeout=0", "--log-format", "json", NULL);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, err);
    ck_assert_uint_eq(cfg.port, 9000);
    ck_assert_uint_eq(cfg.threads, 3);
    ck_assert_uint_eq(cfg.http_threads, 5);
    ck_assert_uint_eq(cfg.max_body, 1024);
    ck_assert_uint_eq(cfg.queue_depth, 7);
    ck_assert_uint_eq(cfg.timeout, 5);
    ck_assert_uint_eq(cfg.drain_timeout, 0);
    ck_assert_int_eq(cfg.log_format, LOG_JSON);
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&cfg.addr;
    ck_assert_uint_eq(ntohl(a4->sin_addr.s_addr), 0x7f000001);
    ck_assert_uint_eq(ntohs(a4->sin_port), 9000);
}
END_TEST

START_TEST(env_then_flags)
{
    config cfg;
    char err[256];
    setenv("LOSSD_THREADS", "5", 1);
    setenv("LOSSD_QUEUE_DEPTH", "9", 1);
    setenv("LOSSD_LOG_FORMAT", "json", 1);
    setenv("LOSSD_LISTEN", "[::1]:7000", 1);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--threads", "2", NULL), 0);
    ck_assert_uint_eq(cfg.threads, 2);          /* flag wins */
    ck_assert_uint_eq(cfg.queue_depth, 9);      /* env over default */
    ck_assert_int_eq(cfg.log_format, LOG_JSON);
    ck_assert_int_eq(cfg.addr.ss_family, AF_INET6);
    ck_assert_uint_eq(cfg.port, 7000);
    clear_env();
}
END_TEST

START_TEST(empty_env_is_unset)
{
    config cfg, defaults;
    char err[256];
    ck_assert_int_eq(parse(&defaults, err, sizeof err, NULL), 0);
    setenv("LOSSD_THREADS", "", 1);
    setenv("LOSSD_MAX_BODY", "", 1);
    setenv("LOSSD_LISTEN", "", 1);
    ck_assert_msg(parse(&cfg, err, sizeof err, NULL) == 0, "message: %s", err);
    ck_assert_uint_eq(cfg.threads, defaults.threads);
    ck_assert_uint_eq(cfg.max_body, defaults.max_body);
    ck_assert_uint_eq(cfg.port, 8080);
    clear_env();
}
END_TEST

START_TEST(flag_overrides_a_bad_env)
{
    config cfg;
    char err[256];
    /* The flag wins, so the variable it overrides is never read... */
    setenv("LOSSD_MAX_BODY", "lots", 1);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--max-body", "10", NULL), 0);
    ck_assert_uint_eq(cfg.max_body, 10);
    /* ...but without the flag it is an error naming the variable. */
    ck_assert_int_eq(parse(&cfg, err, sizeof err, NULL), -1);
    ck_assert_msg(strstr(err, "LOSSD_MAX_BODY") != NULL, "message: %s", err);
    clear_env();
}
END_TEST

/* Every row must be refused with a message naming the culprit. */
static const struct {
    const char *flag, *value, *needle;
} BAD[] = {
    {"--threads", "0", "--threads"},
    {"--threads", "1025", "--threads"},
    {"--threads", "-1", "--threads"},
    {"--threads", "2x", "--threads"},
    {"--threads", "", "--threads"},
    {"--http-threads", "0", "--http-threads"},
    {"--http-threads", "65", "--http-threads"},
    {"--max-body", "0", "--max-body"},
    {"--max-body", "99999999999999999999999", "--max-body"},
    {"--queue-depth", "0", "--queue-depth"},
    {"--timeout", "0", "--timeout"},
    {"--drain-timeout", "86401", "--drain-timeout"},
    {"--log-format", "xml", "--log-format"},
    {"--cors-origins", "", "--cors-origins"},
    {"--cors-origins", "dash.example.com", "dash.example.com"},
    {"--cors-origins", "https://a.example/path", "https://a.example/path"},
    {"--cors-origins", "https://a.example,,https://b.example", "''"},
    {"--cors-origins", "*,https://a.example", "https://a.example"},
    {"--cors-origins", "https://a.example,*", "'*'"},
    {"--cors-origins", "ftp://a.example", "ftp://a.example"},
    {"--cors-origins", "https://", "https://"},
    {"--cors-origins", "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
     "longer than 267"},
    {"--cors-origins", "https://h0.example,https://h1.example,https://h2.example,https://h3.example,https://h4.example,https://h5.example,https://h6.example,https://h7.example,https://h8.example,https://h9.example,https://h10.example,https://h11.example,https://h12.example,https://h13.example,https://h14.example,https://h15.example,https://h16.example", "more than 16 origins"},
    {"--listen", "8080", "--listen"},
    {"--listen", "1.2.3:80", "--listen"},
    {"--listen", "127.0.0.1:65536", "--listen"},
    {"--listen", "127.0.0.1:", "--listen"},
    {"--listen", "::1:80", "--listen"},
    {"--listen", "[::1:80", "--listen"},
    {"--listen", "[zz::1]:80", "--listen"},
    {"--listen", "example.com:80", "--listen"},
};

START_TEST(bad_flag_value_is_refused_naming_it)
{
    config cfg;
    char err[256];
    int rc = parse(&cfg, err, sizeof err, BAD[_i].flag, BAD[_i].value, NULL);
    ck_assert_msg(rc == -1, "%s %s accepted", BAD[_i].flag, BAD[_i].value);
    ck_assert_msg(strstr(err, BAD[_i].needle) != NULL, "%s %s: message '%s'", BAD[_i].flag,
                  BAD[_i].value, err);
}
END_TEST

START_TEST(unknown_and_missing)
{
    config cfg;
    char err[256];
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--nope", NULL), -1);
    ck_assert_msg(strstr(err, "--nope") != NULL, "message: %s", err);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--threads", NULL), -1);
    ck_assert_msg(strstr(err, "needs a value") != NULL, "message: %s", err);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "stray", NULL), -1);
}
END_TEST

START_TEST(help_and_version)
{
    config cfg;
    char err[256];
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--help", NULL), 0);
    ck_assert_int_eq(cfg.action, CONFIG_HELP);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--version", NULL), 0);
    ck_assert_int_eq(cfg.action, CONFIG_VERSION);
}
END_TEST

/* Origins are kept as a list; only a listed one (or any, with "*") is
 * allowed, compared case-insensitively; none without the flag. */
START_TEST(cors_origins)
{
    config cfg;
    char err[256];
    ck_assert_int_eq(parse(&cfg, err, sizeof err, NULL), 0);
    ck_assert_uint_eq(cfg.n_cors, 0);
    ck_assert_int_eq(config_cors_allows(&cfg, "https://a.example"), 0);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--cors-origins",
                           " https://a.example , http://localhost:3000,", NULL), 0);
    ck_assert_uint_eq(cfg.n_cors, 2);
    config one;                                       /* a trailing comma, blanks or not */
    ck_assert_int_eq(parse(&one, err, sizeof err, "--cors-origins", "https://a.example, ", NULL),
                     0);
    ck_assert_uint_eq(one.n_cors, 1);
    ck_assert_str_eq(cfg.cors_origin[0], "https://a.example");
    ck_assert_str_eq(cfg.cors_origin[1], "http://localhost:3000");
    ck_assert_int_eq(config_cors_allows(&cfg, "https://a.example"), 1);
    ck_assert_int_eq(config_cors_allows(&cfg, "HTTPS://A.example"), 1);
    ck_assert_int_eq(config_cors_allows(&cfg, "http://localhost:3000"), 1);
    ck_assert_int_eq(config_cors_allows(&cfg, "http://localhost:3001"), 0);
    ck_assert_int_eq(config_cors_allows(&cfg, "https://a.example.evil"), 0);
    ck_assert_int_eq(config_cors_allows(&cfg, "https://a.exampl"), 0);
    ck_assert_int_eq(config_cors_allows(&cfg, NULL), 0);
    setenv("LOSSD_CORS_ORIGINS", "*", 1);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, NULL), 0);
    unsetenv("LOSSD_CORS_ORIGINS");
    ck_assert_uint_eq(cfg.n_cors, 1);
    ck_assert_int_eq(cfg.cors_any, 1);
    ck_assert_str_eq(cfg.cors_origin[0], "*");
    ck_assert_int_eq(config_cors_allows(&cfg, "null"), 1);
    ck_assert_int_eq(config_cors_allows(&cfg, NULL), 0);
}
END_TEST

START_TEST(listen_forms)
{
    config cfg;
    char err[256];
    ck_assert_int_eq(config_parse_listen(&cfg, "[::]:0", err, sizeof err), 0);
    ck_assert_int_eq(cfg.addr.ss_family, AF_INET6);
    ck_assert_uint_eq(cfg.port, 0);
    ck_assert_int_eq(config_parse_listen(&cfg, ":81", err, sizeof err), 0);
    ck_assert_int_eq(cfg.addr.ss_family, AF_INET);
    ck_assert_uint_eq(cfg.port, 81);
    ck_assert_int_eq(config_parse_listen(&cfg, "localhost:82", err, sizeof err), 0);
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&cfg.addr;
    ck_assert_uint_eq(ntohl(a4->sin_addr.s_addr), 0x7f000001);
    ck_assert_uint_eq(cfg.addr_len, sizeof(struct sockaddr_in));
}
END_TEST

START_TEST(usage_lists_every_flag)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(f);
    config_usage(f, "lossd");
    fclose(f);
    static const char *const words[] = {"--listen", "--threads", "--max-body", "--queue-depth",
                                        "--timeout", "--drain-timeout", "--log-format",
                                        "--cors-origins",
                                        "--help", "--version", "LOSSD_SIMD"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        ck_assert_msg(strstr(text, words[i]) != NULL, "usage lacks %s", words[i]);
    for (size_t i = 0; i < sizeof ENV_NAMES / sizeof ENV_NAMES[0]; i++)
        ck_assert_msg(strstr(text, ENV_NAMES[i]) != NULL, "usage lacks %s", ENV_NAMES[i]);
    free(text);
}
END_TEST

/* cgroup v2 cpu.max: "QUOTA PERIOD" grants QUOTA/PERIOD CPUs (rounded
 * up); "max PERIOD", garbage and a missing file grant no limit (0). */
START_TEST(cpu_quota_file)
{
    static const struct { const char *text; unsigned cpus; } cases[] = {
        {"max 100000\n", 0}, {"200000 100000\n", 2}, {"150000 100000\n", 2},
        {"50000 100000\n", 1}, {"100000 100000", 1}, {"", 0}, {"x y\n", 0},
        {"0 100000\n", 0}, {"100000 0\n", 0},
    };
    char path[] = "/tmp/lossd-cpumax-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        fputs(cases[i].text, f);
        fclose(f);
        ck_assert_msg(config_cpu_quota(path) == cases[i].cpus, "\"%s\": %u, expected %u",
                      cases[i].text, config_cpu_quota(path), cases[i].cpus);
    }
    unlink(path);
    ck_assert_uint_eq(config_cpu_quota("/nonexistent/cpu.max"), 0);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("server_config");
    TCase *tc = tcase_create("defaults");
    tcase_add_checked_fixture(tc, clear_env, clear_env);
    tcase_add_test(tc, cpu_quota_file);
    tcase_add_test(tc, no_flags_give_the_documented_defaults);
    tcase_add_test(tc, help_and_version);
    tcase_add_test(tc, usage_lists_every_flag);
    suite_add_tcase(s, tc);

    tc = tcase_create("flags and environment");
    tcase_add_checked_fixture(tc, clear_env, clear_env);
    tcase_add_test(tc, flags_both_forms);
    tcase_add_test(tc, env_then_flags);
    tcase_add_test(tc, listen_forms);
    tcase_add_test(tc, cors_origins);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, clear_env, clear_env);
    tcase_add_loop_test(tc, bad_flag_value_is_refused_naming_it, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(tc, empty_env_is_unset);
    tcase_add_test(tc, flag_overrides_a_bad_env);
    tcase_add_test(tc, unknown_and_missing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(config_suite());
}
