"""Reading a WordPress site: `reader.read_structure` is the way in.

discovery.py  the home page: where the REST API and xmlrpc.php are, where credentials may go
rest.py       lists and counts over the REST API
xmlrpc.py     lists and counts over XML-RPC (the only user of python-wordpress-xmlrpc)
reader.py     picks the path (REST, XML-RPC, or both), applies the exclusions, counts
"""
