// Example operations a client team would write against Courier, checked in
// CI by relay-compiler (`--validate`) and GraphQL Code Generator
// (typescript-operations) against schema.graphql. Relay wants each
// operation's name to start with the module name (`courier`).
import { graphql } from 'relay-runtime';

export const viewer = graphql`
  query courierViewerQuery {
    viewer {
      id
      email
      displayName
      role
      wallet {
        id
        balance
        currency
      }
    }
  }
`;

export const ordersPage = graphql`
  query courierOrdersPageQuery($first: Int!, $after: String, $status: [OrderStatus!]) {
    orders(first: $first, after: $after, filter: { status: $status }, orderBy: { field: CREATED_AT, direction: DESC }) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        cursor
        node {
          id
          orderNumber
          status
          total
          currency
          createdAt
          buyer {
            displayName
          }
          items {
            name
            quantity
            unitPrice
          }
          payment {
            status
            amount
          }
          activeAssignment {
            status
            agent {
              agentCode
            }
          }
        }
      }
    }
  }
`;

export const orderById = graphql`
  query courierOrderQuery($id: ID!) {
    order(id: $id) {
      id
      orderNumber
      status
      version
      total
      currency
    }
  }
`;

export const createOrder = graphql`
  mutation courierCreateOrderMutation($input: CreateOrderInput!) {
    createOrder(input: $input) {
      id
      orderNumber
      status
      total
    }
  }
`;

export const payForOrder = graphql`
  mutation courierInitiatePaymentMutation($input: InitiatePaymentInput!) {
    initiatePayment(input: $input) {
      id
      status
      amount
    }
  }
`;

export const capture = graphql`
  mutation courierCapturePaymentMutation($input: CapturePaymentInput!) {
    capturePayment(input: $input) {
      id
      status
      capturedAt
    }
  }
`;

export const acceptAssignment = graphql`
  mutation courierAcceptAssignmentMutation($input: AcceptAssignmentInput!) {
    acceptAssignment(input: $input) {
      id
      status
      acceptedAt
    }
  }
`;

export const agentMetrics = graphql`
  query courierAgentMetricsQuery($id: ID!, $from: DateTime) {
    deliveryAgent(id: $id) {
      agentCode
      metrics(from: $from) {
        deliveredCount
        onTimeRate
        averageDeliveryMinutes
      }
    }
  }
`;
