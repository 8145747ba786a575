// Placeholder entry point; the command tree lands in Commands/.
return 0;
