/**
 * @generated SignedSource<<3d1d9a0ebeeef183d367f37ff3bc0346>>
 * @relayHash b1a7e06e402c719e86bf512036adc46e
 * @lightSyntaxTransform
 * @nogrep
 */

/* tslint:disable */
/* eslint-disable */
// @ts-nocheck

// @relayRequestID 421523d8bdb6276156f63de4f01b86002af98aef4ffe72286ee26b903d28bff5

import { ConcreteRequest } from 'relay-runtime';
export type courierAgentMetricsQuery$variables = {
  from?: string | null | undefined;
  id: string;
};
export type courierAgentMetricsQuery$data = {
  readonly deliveryAgent: {
    readonly agentCode: string;
    readonly metrics: {
      readonly averageDeliveryMinutes: number | null | undefined;
      readonly deliveredCount: number;
      readonly onTimeRate: number | null | undefined;
    } | null | undefined;
  };
};
export type courierAgentMetricsQuery = {
  response: courierAgentMetricsQuery$data;
  variables: courierAgentMetricsQuery$variables;
};

const node: ConcreteRequest = (function(){
var v0 = {
  "defaultValue": null,
  "kind": "LocalArgument",
  "name": "from"
},
v1 = {
  "defaultValue": null,
  "kind": "LocalArgument",
  "name": "id"
},
v2 = [
  {
    "kind": "Variable",
    "name": "id",
    "variableName": "id"
  }
],
v3 = {
  "alias": null,
  "args": null,
  "kind": "ScalarField",
  "name": "agentCode",
  "storageKey": null
},
v4 = {
  "alias": null,
  "args": [
    {
      "kind": "Variable",
      "name": "from",
      "variableName": "from"
    }
  ],
  "concreteType": "AgentMetrics",
  "kind": "LinkedField",
  "name": "metrics",
  "plural": false,
  "selections": [
    {
      "alias": null,
      "args": null,
      "kind": "ScalarField",
      "name": "deliveredCount",
      "storageKey": null
    },
    {
      "alias": null,
      "args": null,
      "kind": "ScalarField",
      "name": "onTimeRate",
      "storageKey": null
    },
    {
      "alias": null,
      "args": null,
      "kind": "ScalarField",
      "name": "averageDeliveryMinutes",
      "storageKey": null
    }
  ],
  "storageKey": null
};
return {
  "fragment": {
    "argumentDefinitions": [
      (v0/*: any*/),
      (v1/*: any*/)
    ],
    "kind": "Fragment",
    "metadata": null,
    "name": "courierAgentMetricsQuery",
    "selections": [
      {
        "alias": null,
        "args": (v2/*: any*/),
        "concreteType": "DeliveryAgent",
        "kind": "LinkedField",
        "name": "deliveryAgent",
        "plural": false,
        "selections": [
          (v3/*: any*/),
          (v4/*: any*/)
        ],
        "storageKey": null
      }
    ],
    "type": "Query",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": [
      (v1/*: any*/),
      (v0/*: any*/)
    ],
    "kind": "Operation",
    "name": "courierAgentMetricsQuery",
    "selections": [
      {
        "alias": null,
        "args": (v2/*: any*/),
        "concreteType": "DeliveryAgent",
        "kind": "LinkedField",
        "name": "deliveryAgent",
        "plural": false,
        "selections": [
          (v3/*: any*/),
          (v4/*: any*/),
          {
            "alias": null,
            "args": null,
            "kind": "ScalarField",
            "name": "id",
            "storageKey": null
          }
        ],
        "storageKey": null
      }
    ]
  },
  "params": {
    "id": "421523d8bdb6276156f63de4f01b86002af98aef4ffe72286ee26b903d28bff5",
    "metadata": {},
    "name": "courierAgentMetricsQuery",
    "operationKind": "query",
    "text": null
  }
};
})();

(node as any).hash = "696a26063d85c1d2a9fbb5f79fddf64b";

export default node;
