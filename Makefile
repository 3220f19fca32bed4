# msgkit - one non-recursive Makefile. Sources are found by wildcard:
#   libproto/*/*.c      -> libproto.a, libproto.so (installed); one folder
#                          per layer, public headers in libproto/
#   dissectors/*.c      -> libdissect.a (schema and printers)
#   tools/lib/*.c       -> libtools.a (capture, pcap, options)
#   tools/NAME/*.c      -> bin/NAME
#   tests/unit/test_*.c -> one cmocka program each
#   tests/helpers/*.c   -> programs the tests and the demo drive
#   tests/fuzz/fuzz_*.c -> libFuzzer targets (make fuzz) and corpus
#                          replayers (make check)
#
# make          build into build/ (SAN=1: build/san, ASan+UBSan)
# make check    build, then run every test plainly and under SAN=1
# make demo     decode a sample two-way session
# make bench    throughput figures beside cat, socat
# make fuzz     run each libFuzzer target for FUZZ_SECONDS
# make install  PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin
LIBDIR   = $(PREFIX)/lib
INCDIR   = $(PREFIX)/include/libproto
MANDIR   = $(PREFIX)/share/man
PCDIR    = $(LIBDIR)/pkgconfig
VERSION  = 0.1.0
SOVER    = 1

CC      ?= cc
FUZZCC  ?= clang
SAN     ?= 0

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wvla
CSTD     = -std=c11 -D_GNU_SOURCE
ifeq ($(SAN),1)
O       ?= build/san
OPT      = -O1 -g -fno-omit-frame-pointer \
           -fsanitize=address,undefined -fno-sanitize-recover=all
else
O       ?= build
OPT      = -O2 -g
endif
CFLAGS  ?=
LDFLAGS ?=
# Layer folders include their internal headers by name.
PROTO_DIRS = $(patsubst %/,%,$(wildcard libproto/*/))
INC      = -I. -Ilibproto $(PROTO_DIRS:%=-I%) -I$(O)/gen
# -fno-semantic-interposition: libproto exports only its API (a version
# script) and nothing interposes it, so let calls inside it inline.
ALLCFLAGS = $(CSTD) $(WARN) $(OPT) -fPIC -fno-semantic-interposition \
            -MMD -MP $(INC) $(CFLAGS)
ALLLDFLAGS = $(OPT) $(LDFLAGS)

PCAP_LIBS  = -lpcap
RL_LIBS    = -lreadline
CRYPTO_LIBS = -lcrypto
CMOCKA_LIBS = -lcmocka
SYS_LIBS   = -lpthread -lm

# --- sources ---------------------------------------------------------------
GEN_H      = $(O)/gen/proto_numbers.h
GEN_C      = $(O)/gen/proto_itemspecs.c
PROTO_SRC  = $(wildcard libproto/*.c libproto/*/*.c)
PROTO_OBJ  = $(PROTO_SRC:%.c=$(O)/obj/%.o) $(O)/obj/gen/proto_itemspecs.o
DIS_SRC    = $(filter-out dissectors/schemagen.c,$(wildcard dissectors/*.c))
DIS_OBJ    = $(DIS_SRC:%.c=$(O)/obj/%.o)
TLIB_SRC   = $(wildcard tools/lib/*.c)
TLIB_OBJ   = $(TLIB_SRC:%.c=$(O)/obj/%.o)
TOOLS      = $(filter-out lib,$(notdir $(patsubst %/,%,$(wildcard tools/*/))))
TOOL_BINS  = $(TOOLS:%=$(O)/bin/%)
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
HELP_SRC   = $(wildcard tests/helpers/*.c)
HELP_BINS  = $(HELP_SRC:tests/helpers/%.c=$(O)/tests/bin/%)
FUZZ_SRC   = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES = $(FUZZ_SRC:tests/fuzz/%.c=%)
REPLAY_BINS = $(FUZZ_NAMES:%=$(O)/tests/replay_%)

LIBPROTO_A  = $(O)/lib/libproto.a
LIBPROTO_SO = $(O)/lib/libproto.so.$(SOVER)
LIBDIS_A    = $(O)/lib/libdissect.a
LIBTOOLS_A  = $(O)/lib/libtools.a
# Tools link the static libraries: nothing to find at run time.
TOOL_LIBS   = $(LIBTOOLS_A) $(LIBDIS_A) $(LIBPROTO_A)
EXT_LIBS    = $(PCAP_LIBS) $(RL_LIBS) $(CRYPTO_LIBS) $(SYS_LIBS)

.PHONY: all deps deps-test deps-fuzz check check-run demo bench fuzz \
        install \
        uninstall clean tests
.DEFAULT_GOAL := all
# Keep objects made through chains of pattern rules.
.SECONDARY:

all: deps $(LIBPROTO_A) $(LIBPROTO_SO) $(TOOL_BINS)

deps:
	@sh mk/deps.sh build

deps-test:
	@sh mk/deps.sh test

# --- generated from the schema --------------------------------------------
$(O)/host/schemagen: dissectors/schemagen.c dissectors/schema.c \
                     dissectors/schema.h libproto/proto_decode.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) -O1 -I. -Ilibproto -o $@ \
	    dissectors/schemagen.c dissectors/schema.c

$(GEN_H): $(O)/host/schemagen
	@mkdir -p $(@D)
	$(O)/host/schemagen numbers $@

$(GEN_C): $(O)/host/schemagen
	@mkdir -p $(@D)
	$(O)/host/schemagen itemspecs $@

# --- objects and libraries ------------------------------------------------
$(O)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(O)/obj/gen/proto_itemspecs.o: $(GEN_C) | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(LIBPROTO_A): $(PROTO_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIBPROTO_SO): $(PROTO_OBJ) libproto/libproto.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libproto.so.$(SOVER) \
	    -Wl,--version-script=libproto/libproto.map $(ALLLDFLAGS) \
	    -o $@ $(PROTO_OBJ) $(CRYPTO_LIBS) $(SYS_LIBS)
	ln -sf libproto.so.$(SOVER) $(O)/lib/libproto.so

$(LIBDIS_A): $(DIS_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIBTOOLS_A): $(TLIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# One rule per tool directory: bin/NAME from tools/NAME/*.c.
define tool_rule
$(O)/bin/$(1): $(patsubst %.c,$(O)/obj/%.o,$(wildcard tools/$(1)/*.c)) \
               $(TOOL_LIBS)
	@mkdir -p $$(@D)
	$$(CC) $$(ALLLDFLAGS) -o $$@ $$(filter %.o,$$^) $$(TOOL_LIBS) \
	    $$(EXT_LIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(O)/tests/test_%: $(O)/obj/tests/unit/test_%.o $(TOOL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALLLDFLAGS) -o $@ $< $(TOOL_LIBS) $(CMOCKA_LIBS) $(EXT_LIBS)

$(O)/tests/bin/%: $(O)/obj/tests/helpers/%.o $(TOOL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALLLDFLAGS) -o $@ $< $(TOOL_LIBS) $(EXT_LIBS)

# A fuzz target linked with a main() that runs it over files: the corpus
# becomes a regression test under the sanitizers, without clang.
$(O)/tests/replay_%: $(O)/obj/tests/fuzz/%.o $(O)/obj/tests/fuzz/replay.o \
                     $(TOOL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALLLDFLAGS) -o $@ $< $(O)/obj/tests/fuzz/replay.o \
	    $(TOOL_LIBS) $(EXT_LIBS)

tests: all $(UNIT_BINS) $(HELP_BINS) $(REPLAY_BINS)

# --- checks ---------------------------------------------------------------
check: deps-test
	$(MAKE) tests
	$(MAKE) SAN=1 tests
	sh tests/run.sh build
	sh tests/run.sh build/san

check-run: deps-test tests
	sh tests/run.sh $(O)

demo: deps-test all $(HELP_BINS)
	@sh mk/demo.sh $(O)

bench: all $(HELP_BINS)
	@sh mk/deps.sh test
	sh bench/run.sh $(O)

# --- fuzzing with libFuzzer (clang) ---------------------------------------
FUZZ_O       = build/fuzz
FUZZ_CFLAGS  = $(CSTD) -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
               -I. -Ilibproto $(PROTO_DIRS:%=-I%) -I$(FUZZ_O)/gen
FUZZ_LIBSRC  = $(PROTO_SRC) $(DIS_SRC) $(TLIB_SRC)
# No dependency files here: every header may change a fuzzer.
FUZZ_HDR     = $(wildcard libproto/*.h libproto/*/*.h dissectors/*.h \
               tools/lib/*.h)
FUZZ_SECONDS ?= 60

$(FUZZ_O)/%: tests/fuzz/%.c $(FUZZ_LIBSRC) $(FUZZ_HDR) \
             $(FUZZ_O)/gen/proto_numbers.h $(FUZZ_O)/gen/proto_itemspecs.c \
             | deps-fuzz
	@mkdir -p $(@D)
	$(FUZZCC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIBSRC) \
	    $(FUZZ_O)/gen/proto_itemspecs.c $(EXT_LIBS)

$(FUZZ_O)/gen/%: $(GEN_H) $(GEN_C)
	@mkdir -p $(@D)
	cp $(O)/gen/$* $@

$(FUZZ_O)/fuzz_notation.dict: $(O)/host/schemagen
	@mkdir -p $(@D)
	$(O)/host/schemagen dict $@

deps-fuzz:
	@sh mk/deps.sh fuzz

fuzz: deps $(FUZZ_NAMES:%=$(FUZZ_O)/%) $(FUZZ_O)/fuzz_notation.dict
	sh tests/fuzz/run.sh $(FUZZ_O) $(FUZZ_SECONDS)

# --- install --------------------------------------------------------------
PUB_H = $(wildcard libproto/proto*.h) $(GEN_H)

$(O)/libproto.pc: mk/libproto.pc.in
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCDIR@|$(PREFIX)/include|; s|@VERSION@|$(VERSION)|' \
	    $< > $@

install: all $(O)/libproto.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	    $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(TOOL_BINS) $(DESTDIR)$(BINDIR)
	install -m 644 $(LIBPROTO_A) $(DESTDIR)$(LIBDIR)
	install -m 755 $(LIBPROTO_SO) $(DESTDIR)$(LIBDIR)
	ln -sf libproto.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libproto.so
	install -m 644 $(PUB_H) $(DESTDIR)$(INCDIR)
	install -m 644 $(O)/libproto.pc $(DESTDIR)$(PCDIR)
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(wildcard man/*.3) $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(wildcard man/*.7) $(DESTDIR)$(MANDIR)/man7

uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%)
	rm -f $(DESTDIR)$(LIBDIR)/libproto.a $(DESTDIR)$(LIBDIR)/libproto.so*
	rm -rf $(DESTDIR)$(INCDIR)
	rm -f $(DESTDIR)$(PCDIR)/libproto.pc

clean:
	rm -rf build

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
