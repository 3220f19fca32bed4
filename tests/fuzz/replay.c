/*
 * replay.c - run a libFuzzer target over files and directories of
 * inputs, without libFuzzer: every kept crash and corpus file becomes a
 * regression test that make check runs under the sanitizers.
 */
#include <dirent.h>
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX (4u << 20)	/* inputs are small; refuse a huge one */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long replayed;

static void
replay_file(const char *path)
{
	static uint8_t buf[REPLAY_MAX];
	uint8_t *copy;
	size_t n;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL)
		err(1, "%s", path);
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f))
		err(1, "%s", path);
	fclose(f);
	/* An exact-size copy, so ASan sees any read past the input. */
	copy = malloc(n ? n : 1);
	if (copy == NULL)
		err(1, "malloc");
	memcpy(copy, buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	replayed++;
}

static void
replay(const char *path)
{
	struct dirent *de;
	struct stat st;
	char sub[4096];
	DIR *d;

	if (stat(path, &st) < 0)
		err(1, "%s", path);
	if (!S_ISDIR(st.st_mode)) {
		replay_file(path);
		return;
	}
	d = opendir(path);
	if (d == NULL)
		err(1, "%s", path);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		replay(sub);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	int i;

	if (argc < 2)
		errx(2, "usage: %s FILE|DIR...", argv[0]);
	for (i = 1; i < argc; i++)
		replay(argv[i]);
	printf("replayed %lu inputs\n", replayed);
	return 0;
}
