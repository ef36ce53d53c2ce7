/* main.c — placeholder entry until the CLI dispatch table lands. */
#include <stdio.h>
int main(void) { puts("selfalign"); return 0; }
