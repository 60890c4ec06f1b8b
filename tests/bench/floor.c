/*
 * The floor for W1 and W4: the least any runner can do. Reads "GROUP<TAB>COMMAND" lines (GROUP
 * "-" for none), runs every command through /bin/sh -c with posix_spawn, at most JOBS at once
 * and one at a time per group, in file order, and waits with waitpid. No logs, no report, no
 * timeouts: what is left of a run's wall time above this is the runner's own cost.
 *
 *     cc -O2 -o floor floor.c && ./floor 8 commands.tsv
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

extern char **environ;

struct job {
    char *group;   /* NULL: no group */
    char *command;
    pid_t pid;     /* 0: not started; -1: done */
};

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: floor JOBS FILE\n");
        return 2;
    }
    int max = atoi(argv[1]);
    FILE *f = fopen(argv[2], "r");
    if (max < 1 || !f) {
        fprintf(stderr, "floor: bad JOBS or unreadable FILE\n");
        return 2;
    }
    size_t n = 0, cap = 1024;
    struct job *jobs = malloc(cap * sizeof *jobs);
    char *line = NULL;
    size_t len = 0;
    while (getline(&line, &len, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = 0;
        if (n == cap)
            jobs = realloc(jobs, (cap *= 2) * sizeof *jobs);
        jobs[n].group = strcmp(line, "-") ? strdup(line) : NULL;
        jobs[n].command = strdup(tab + 1);
        jobs[n].pid = 0;
        n++;
    }
    size_t next = 0; /* every job before it has started */
    int running = 0, failed = 0;
    size_t done = 0;
    while (done < n) {
        /* Start what may start, in file order: free slots, and no member of its group running. */
        for (size_t i = next; i < n && running < max; i++) {
            if (jobs[i].pid != 0)
                continue;
            int busy = 0;
            if (jobs[i].group)
                for (size_t k = 0; k < i && !busy; k++)
                    busy = jobs[k].pid != -1 && jobs[k].group && !strcmp(jobs[k].group, jobs[i].group);
            if (busy)
                continue;
            char *args[] = {"sh", "-c", jobs[i].command, NULL};
            if (posix_spawn(&jobs[i].pid, "/bin/sh", NULL, NULL, args, environ) != 0) {
                perror("floor: posix_spawn");
                return 1;
            }
            running++;
        }
        while (next < n && jobs[next].pid != 0)
            next++;
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            perror("floor: waitpid");
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            if (jobs[i].pid == pid) {
                jobs[i].pid = -1;
                running--;
                done++;
                failed |= !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                break;
            }
    }
    return failed;
}
