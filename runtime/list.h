/* list.h: an intrusive doubly linked list, for the core and the bindings: a node embedded in
 * each element, a list of head and tail, insertion at either end and removal in constant time.
 * OPS_LIST_ENTRY gets the element back from its node (as the Linux kernel's container_of). */
#ifndef OPS_LIST_H
#define OPS_LIST_H

#include <stddef.h>

struct ops_list_node {
  struct ops_list_node *prev, *next;
};

/* Zero-initialised: empty. */
struct ops_list {
  struct ops_list_node *head, *tail;
};

/* The element of type `type` whose member `member` is `node`. */
#define OPS_LIST_ENTRY(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

static inline void ops_list_push_back(struct ops_list *list, struct ops_list_node *node)
{
  node->prev = list->tail;
  node->next = NULL;
  if (list->tail)
    list->tail->next = node;
  else
    list->head = node;
  list->tail = node;
}

static inline void ops_list_push_front(struct ops_list *list, struct ops_list_node *node)
{
  node->prev = NULL;
  node->next = list->head;
  if (list->head)
    list->head->prev = node;
  else
    list->tail = node;
  list->head = node;
}

/* Unlinks `node`, which is on `list`. */
static inline void ops_list_remove(struct ops_list *list, struct ops_list_node *node)
{
  if (node->prev)
    node->prev->next = node->next;
  else
    list->head = node->next;
  if (node->next)
    node->next->prev = node->prev;
  else
    list->tail = node->prev;
  node->prev = node->next = NULL;
}

#endif
