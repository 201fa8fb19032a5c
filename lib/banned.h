/*
 * banned.h - functions flowgate must not call.
 *
 * Included last by every lib/ source file (after the system headers, so
 * their prototypes are not renamed).  Each banned name becomes a call to an
 * undeclared function whose name says what to use instead; with -Werror the
 * build fails at the offending line.  After git's banned.h.
 */
#ifndef FG_BANNED_H
#define FG_BANNED_H

#define FG_BANNED(func) sorry_##func##_is_banned_in_flowgate

#undef strcpy
#define strcpy(x, y) FG_BANNED(strcpy)
#undef strcat
#define strcat(x, y) FG_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) FG_BANNED(strncpy)
#undef sprintf
#define sprintf(...) FG_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) FG_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) FG_BANNED(strtok)
#undef gmtime
#define gmtime(t) FG_BANNED(gmtime)
#undef localtime
#define localtime(t) FG_BANNED(localtime)
#undef atoi
#define atoi(s) FG_BANNED(atoi)

#endif
