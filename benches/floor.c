/*
 * floor: the physical floor of a parallel command runner, for benches/run.sh.
 *
 *   floor [-t] [-P N] [-a FILE] CMD [ARG...]   one job per input line: CMD ARG... LINE
 *   floor [-t] [-P N] -n COUNT CMD [ARG...]    COUNT jobs of CMD ARG..., no input read
 *
 * Inputs are lines of stdin (or of FILE with -a), the trailing newline removed.
 * Each job is started with posix_spawnp (no shell, no pipes: the children
 * inherit stdin, stdout and stderr), at most N (default 1) in flight.
 * By default one thread spawns every job and reaps finished children with
 * waitpid(-1). With -t there are N threads instead, each taking the next input
 * under a lock, spawning it and waiting for its own child (waitpid(pid)): since
 * glibc's posix_spawn blocks the caller until the child has exec'd (vfork
 * semantics), one spawning thread serialises every exec, and N spawners can
 * overlap them on N cores.
 * Nothing else: no quoting, no output grouping, no ordering, no signal
 * handling. Exit status: 0 if every job exited 0, else 1 (2 for usage errors).
 *
 * Build: cc -O2 -pthread -o floor benches/floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static long running;
static int failed;

/* For -t: what the spawner threads share. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *input;
static long remaining; /* jobs left with -n, else -1 */
static char **fixed;
static int nfixed;

static void *spawner(void *unused) {
    (void)unused;
    char **job = calloc((size_t)nfixed + 2, sizeof *job);
    if (!job) {
        perror("floor");
        exit(2);
    }
    memcpy(job, fixed, (size_t)nfixed * sizeof *job);
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        int have;
        pthread_mutex_lock(&lock);
        if (remaining >= 0) {
            have = remaining > 0;
            remaining -= have;
        } else {
            ssize_t len = getline(&line, &cap, input);
            have = len >= 0;
            if (len > 0 && line[len - 1] == '\n')
                line[len - 1] = '\0';
            job[nfixed] = line;
        }
        pthread_mutex_unlock(&lock);
        if (!have)
            break;
        pid_t pid;
        int err = posix_spawnp(&pid, job[0], NULL, NULL, job, environ);
        if (err != 0) {
            fprintf(stderr, "floor: cannot run %s: %s\n", job[0], strerror(err));
            __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
            continue;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR) {
                perror("floor: waitpid");
                exit(2);
            }
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
    }
    free(line);
    free(job);
    return NULL;
}

static void reap_one(void) {
    int status;
    pid_t pid;
    do {
        pid = waitpid(-1, &status, 0);
    } while (pid < 0 && errno == EINTR);
    if (pid < 0) {
        perror("floor: waitpid");
        exit(2);
    }
    running--;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        failed = 1;
}

static void spawn(char **argv, long slots) {
    while (running >= slots)
        reap_one();
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (err != 0) {
        fprintf(stderr, "floor: cannot run %s: %s\n", argv[0], strerror(err));
        failed = 1;
        return;
    }
    running++;
}

static void usage(void) {
    fprintf(stderr, "usage: floor [-t] [-P N] [-a FILE | -n COUNT] CMD [ARG...]\n");
    exit(2);
}

int main(int argc, char **argv) {
    long slots = 1, count = -1;
    const char *file = NULL;
    int opt, threads = 0;
    while ((opt = getopt(argc, argv, "+P:n:a:t")) != -1) {
        switch (opt) {
        case 't': threads = 1; break;
        case 'P': slots = strtol(optarg, NULL, 10); break;
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'a': file = optarg; break;
        default: usage();
        }
    }
    if (optind >= argc || slots < 1)
        usage();

    nfixed = argc - optind;
    if (threads) {
        fixed = argv + optind;
        remaining = count;
        input = stdin;
        if (count < 0 && file && !(input = fopen(file, "r"))) {
            perror(file);
            return 2;
        }
        pthread_t *tids = calloc((size_t)slots, sizeof *tids);
        if (!tids) {
            perror("floor");
            return 2;
        }
        for (long i = 0; i < slots; i++) {
            int err = pthread_create(&tids[i], NULL, spawner, NULL);
            if (err != 0) {
                fprintf(stderr, "floor: pthread_create: %s\n", strerror(err));
                return 2;
            }
        }
        for (long i = 0; i < slots; i++)
            pthread_join(tids[i], NULL);
        return failed;
    }

    /* CMD ARG... LINE NULL */
    char **job = calloc((size_t)nfixed + 2, sizeof *job);
    if (!job) {
        perror("floor");
        return 2;
    }
    memcpy(job, argv + optind, (size_t)nfixed * sizeof *job);

    if (count >= 0) {
        for (long i = 0; i < count; i++)
            spawn(job, slots);
    } else {
        FILE *in = stdin;
        if (file && !(in = fopen(file, "r"))) {
            perror(file);
            return 2;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, in)) >= 0) {
            if (len > 0 && line[len - 1] == '\n')
                line[len - 1] = '\0';
            job[nfixed] = line; /* the child has its own copy once spawned */
            spawn(job, slots);
        }
        free(line);
    }
    while (running > 0)
        reap_one();
    return failed;
}
