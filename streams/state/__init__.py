"""Everything that knows the Redis layout: keys, Lua, codecs, fences, one store per path."""
